/* Admin: users. Role: PATCH /api/users/<id> {role}; block: POST /api/blocks {user_id,
 * scope: "site", reason, expires_at?}; unblock: DELETE /api/blocks/<id>; add: POST /api/users. */
(function () {
  "use strict";
  function isoFromLocal(value) {
    // <input type=datetime-local> is the browser's local wall time: send it with its offset.
    const d = new Date(value);
    return isNaN(d) ? null : d.toISOString();
  }

  document.addEventListener("DOMContentLoaded", () => {
    const box = document.querySelector("[data-form-error]");
    const table = document.getElementById("user-table");
    const dialog = document.getElementById("block-dialog");
    const blockForm = document.getElementById("block-form");
    const dialogError = blockForm.querySelector("[data-dialog-error]");
    let blockRow = null;

    table.addEventListener("change", async (event) => {
      const select = event.target;
      if (!select.matches("[data-role-select]")) return;
      const row = select.closest("tr");
      const previous = [...select.options].find((o) => o.defaultSelected);
      try {
        await Portal.api("PATCH", "/api/users/" + row.dataset.userId, { role: select.value });
        [...select.options].forEach((o) => { o.defaultSelected = o.value === select.value; });
        Portal.flash(Portal.t("%(name)s is now %(role)s.", { name: row.dataset.userName, role: select.value }));
        Portal.hideError(box);
      } catch (err) { if (previous) select.value = previous.value; Portal.showError(box, err); }
    });

    table.addEventListener("click", async (event) => {
      const button = event.target.closest("button");
      if (!button) return;
      const row = button.closest("tr");
      if (button.hasAttribute("data-block")) {
        blockRow = row;
        blockForm.reset();
        Portal.hideError(dialogError, blockForm);
        dialog.querySelector("[data-block-name]").textContent = row.dataset.userName;
        dialog.showModal();
        blockForm.elements.reason.focus();
      } else if (button.hasAttribute("data-unblock")) {
        try {
          await Portal.busy(button, () => Portal.api("DELETE", "/api/blocks/" + row.dataset.blockId));
          Portal.flashNext(Portal.t("%(name)s is unblocked.", { name: row.dataset.userName }));
          location.reload();
        } catch (err) { Portal.showError(box, err); }
      }
    });

    dialog.querySelector("[data-close-dialog]").addEventListener("click", () => dialog.close());
    blockForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      Portal.hideError(dialogError, blockForm);
      const reason = blockForm.elements.reason.value.trim();
      const body = { user_id: Number(blockRow.dataset.userId), scope: "site", reason };
      try {
        if (!reason) throw Portal.invalid("reason", Portal.t("give a reason; the user will see it"));
        if (blockForm.elements.expires.value) {
          body.expires_at = isoFromLocal(blockForm.elements.expires.value);
          if (!body.expires_at) throw Portal.invalid("expires", Portal.t("the end date is not valid"));
        }
        await Portal.busy(blockForm.querySelector('button[type="submit"]'), () => Portal.api("POST", "/api/blocks", body));
        dialog.close();
        Portal.flashNext(Portal.t("%(name)s is blocked.", { name: blockRow.dataset.userName }));
        location.reload();
      } catch (err) { Portal.showError(dialogError, err, blockForm); }
    });

    const add = document.getElementById("user-form");
    add.addEventListener("submit", async (event) => {
      event.preventDefault();
      Portal.hideError(box, add);
      const body = { name: add.elements.name.value.trim(), email: add.elements.email.value.trim(), role: add.elements.role.value };
      if (add.elements.password.value) body.password = add.elements.password.value;
      try {
        if (!body.name) throw Portal.invalid("name", Portal.t("enter a name"));
        if (!body.email.includes("@")) throw Portal.invalid("email", Portal.t("enter an email address"));
        await Portal.busy(add.querySelector("button"), () => Portal.api("POST", "/api/users", body));
        Portal.flashNext(Portal.t("User added."));
        location.assign("/admin/users?q=" + encodeURIComponent(body.email));
      } catch (err) { Portal.showError(box, err, add); }
    });
  });
})();
