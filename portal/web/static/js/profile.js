/* Profile: PATCH /api/users/<me>; password: POST /api/auth/password. */
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", () => {
    const form = document.getElementById("profile-form");
    const box = form.parentElement.querySelector("[data-form-error]");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      Portal.hideError(box, form);
      const name = form.elements.name.value.trim();
      const phone = form.elements.phone.value.trim();
      // Every channel the portal offers (a plugin's too), on or off: {"email": true, ...}.
      const channels = {};
      form.querySelectorAll('input[name="channel"]').forEach((box) => { channels[box.value] = box.checked; });
      const body = { name, phone, channels };
      const tz = form.elements.timezone.value.trim();
      if (tz) body.timezone = tz;
      body.locale = form.elements.locale.value;  // "": automatic (browser, else school)
      try {
        if (!name) throw Portal.invalid("name", Portal.t("your name must not be empty"));
        if (channels.sms && !phone) throw Portal.invalid("phone", Portal.t("add a phone number to get SMS reminders"));
        await Portal.busy(form.querySelector("button"), () => Portal.api("PATCH", "/api/users/" + form.dataset.userId, body));
        if (body.locale !== (form.dataset.locale || "")) {  // the page changes language
          Portal.flashNext(Portal.t("Profile saved."));
          location.reload();
          return;
        }
        Portal.flash(Portal.t("Profile saved."));
      } catch (err) { Portal.showError(box, err, form); }
    });

    const reset = document.getElementById("reset-feed");
    if (reset) {
      reset.addEventListener("click", async () => {
        if (!confirm(Portal.t("Replace your calendar link? Calendars using the old link stop updating."))) return;
        try {
          const feed = await Portal.busy(reset, () => Portal.api("POST", "/api/calendar/feed/reset"));
          document.getElementById("calendar-url").value = feed.url;
          Portal.flash(Portal.t("New calendar link created."));
        } catch (err) { Portal.showError(box, err); }
      });
    }

    const pw = document.getElementById("password-form");
    const pwBox = pw.parentElement.querySelector("[data-form-error]");
    pw.addEventListener("submit", async (event) => {
      event.preventDefault();
      Portal.hideError(pwBox, pw);
      try {
        if (pw.elements.new_password.value.length < 10) throw Portal.invalid("new_password", Portal.t("the new password needs at least 10 characters"));
        await Portal.busy(pw.querySelector('button[type="submit"]'), () => Portal.api("POST", "/api/auth/password", {
          current_password: pw.elements.current_password.value, new_password: pw.elements.new_password.value }));
        pw.reset();
        Portal.flash(Portal.t("Password changed."));
      } catch (err) { Portal.showError(pwBox, err, pw); }
    });
  });
})();
