/* Admin: notification deliveries. Send again: POST /api/admin/notifications/<id>/retry. */
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", () => {
    const box = document.querySelector("[data-form-error]");
    const table = document.getElementById("delivery-table");
    if (!table) return;
    table.addEventListener("click", async (event) => {
      const button = event.target.closest("button[data-retry]");
      if (!button) return;
      const row = button.closest("tr");
      try {
        await Portal.busy(button, () => Portal.api("POST", "/api/admin/notifications/" + row.dataset.notificationId + "/retry"));
        row.querySelector("[data-status]").textContent = "pending";
        button.remove();
        Portal.flash(Portal.t("Queued again: it goes out within a minute."));
        Portal.hideError(box);
      } catch (err) { Portal.showError(box, err); }
    });
  });
})();
