/* Admin: export a user's data (POST /api/users/<id>/exports, then poll) or erase a user. POST /api/users/<id>/erasure {dry_run: true} lists what will change
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
      // An administrator's export for someone else (a parent's request): the reason is logged.
      const exporter = event.target.closest("button[data-export]");
      if (!exporter) return;
      const box = document.querySelector("[data-form-error]");
      const reason = prompt(dialog.dataset.textExportReason);
      if (reason === null) return;
      try {
        const userId = exporter.closest("tr").dataset.userId;
        let job = await Portal.busy(exporter, () => Portal.api("POST", "/api/users/" + userId + "/exports", { reason: reason.slice(0, 200) }));
        while (job.status === "queued" || job.status === "running") {
          await new Promise((resolve) => setTimeout(resolve, 1000));
          job = await Portal.api("GET", "/api/exports/" + job.id);
        }
        if (job.status !== "ready") throw new Error(dialog.dataset.textExportFailed + " " + (job.error || ""));
        Portal.flash(dialog.dataset.textExportReady);
        location.href = job.download_url;
      } catch (err) { Portal.showError(box, err); }
    });

    table.addEventListener("click", async (event) => {
      const button = event.target.closest("button[data-erase]");
      if (!button) return;
      const row = button.closest("tr");
      userId = row.dataset.userId;
      dialog.querySelector("[data-erase-title]").textContent = Portal.t("Erase the personal data of %(name)s", { name: row.dataset.userName });
      plan.replaceChildren();
      Portal.hideError(error);
      confirm.disabled = true;
      dialog.showModal();
      try {
        const result = await Portal.api("POST", "/api/users/" + userId + "/erasure", { dry_run: true });
        for (const change of result.changes) {
          plan.append(Portal.el("tr", {}, Portal.el("td", { text: change.what }),
            Portal.el("td", { text: change.label }), Portal.el("td", { text: String(change.count) })));
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
