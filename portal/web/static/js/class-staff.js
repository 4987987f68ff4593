/* The class owner's staff tools on the class page: add a teacher of the school as
 * co-teacher or assistant (POST /api/classes/<id>/staff), remove one (DELETE). */
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", () => {
    const section = document.getElementById("staff");
    const form = document.getElementById("staff-form");
    if (!section || !form) return;
    const base = "/api/classes/" + section.dataset.classId + "/staff";
    const box = form.querySelector("[data-staff-error]");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      Portal.hideError(box, form);
      try {
        const email = form.elements.email.value.trim();
        if (!email) throw Portal.invalid("email", Portal.t("type the email of a teacher of the school"));
        const added = await Portal.busy(form.querySelector("button"), () =>
          Portal.api("POST", base, { email, role: form.elements.role.value }));
        Portal.flashNext(Portal.t("%(name)s now helps teach this class.", { name: added.user.name }));
        location.reload();
      } catch (err) { Portal.showError(box, err, form); }
    });
    section.addEventListener("click", async (event) => {
      const button = event.target.closest("[data-remove-staff]");
      if (!button) return;
      try {
        await Portal.busy(button, () => Portal.api("DELETE", base + "/" + button.dataset.removeStaff));
        button.closest("li").remove();
        Portal.flash(Portal.t("Removed from this class."));
      } catch (err) { Portal.showError(box, err); }
    });
  });
})();
