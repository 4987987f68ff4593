/* Admin: erase a user. POST /api/users/<id>/erasure {dry_run: true} lists what will change
 * in the dialog; confirming sends it again without dry_run. */
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", () => {
    const table = document.getElementById("user-table");
    const dialog = document.getElementById("erase-dialog");
    if (!table || !dialog) return;
    const form = document.getElementById("erase-form");
    const plan = dialog.querySelector("[data-erase-plan] tbody");
    const error = form.querySelector("[data-dialog-error]");
    const confirm = form.querySelector("[data-confirm-erase]");
    let userId = null;

    table.addEventListener("click", async (event) => {
      const button = event.target.closest("button[data-erase]");
      if (!button) return;
      const row = button.closest("tr");
      userId = row.dataset.userId;
      dialog.querySelector("[data-erase-name]").textContent = row.dataset.userName;
      plan.replaceChildren();
      Portal.hideError(error);
      confirm.disabled = true;
      dialog.showModal();
      try {
        const result = await Portal.api("POST", "/api/users/" + userId + "/erasure", { dry_run: true });
        for (const change of result.changes) {
          plan.append(Portal.el("tr", {}, Portal.el("td", { text: change.what }),
            Portal.el("td", { text: change.action }), Portal.el("td", { text: String(change.count) })));
        }
        confirm.disabled = false;
      } catch (err) { Portal.showError(error, err); }
    });

    dialog.querySelector("[data-close-dialog]").addEventListener("click", () => dialog.close());
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      Portal.hideError(error);
      try {
        await Portal.busy(confirm, () => Portal.api("POST", "/api/users/" + userId + "/erasure", { dry_run: false }));
        Portal.flashNext(dialog.dataset.textErased);
        location.reload();
      } catch (err) { Portal.showError(error, err); }
    });
  });
})();
