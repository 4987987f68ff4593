/* Admin: retention periods and erasure policy: PATCH /api/admin/privacy. */
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", () => {
    const form = document.getElementById("privacy-form");
    const box = form.parentElement.querySelector("[data-form-error]");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      Portal.hideError(box, form);
      const body = {};
      form.querySelectorAll('input[type="number"]').forEach((input) => {
        body[input.name] = input.value.trim() ? Number(input.value) : null;
      });
      const policy = form.querySelector('input[name="erasure_policy"]:checked');
      if (policy) body.erasure_policy = policy.value;
      try {
        await Portal.busy(form.querySelector("button"), () => Portal.api("PATCH", "/api/admin/privacy", body));
        Portal.flash(form.dataset.textSaved);
      } catch (err) { Portal.showError(box, err, form); }
    });
  });
})();
