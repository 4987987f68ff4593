/* Admin: site settings (PATCH /api/admin/settings). */
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", () => {
    const form = document.getElementById("settings-form");
    const box = document.querySelector("[data-form-error]");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      Portal.hideError(box, form);
      try {
        const name = form.elements.school_name.value.trim();
        if (!name) throw Portal.invalid("school_name", Portal.t("the school needs a name"));
        const offsets = form.elements.reminder_offsets.value.split(/[\s,]+/).filter(Boolean);
        if (offsets.some((v) => !/^\d+$/.test(v))) throw Portal.invalid("reminder_offsets", Portal.t("reminders must be whole numbers of minutes, e.g. 1440, 15"));
        await Portal.busy(form.querySelector("button"), () => Portal.api("PATCH", "/api/admin/settings", {
          school_name: name, timezone: form.elements.timezone.value.trim(),
          default_locale: form.elements.default_locale.value,
          reminder_offsets: offsets.map(Number),
          reminder_channels: [...form.querySelectorAll('input[name="reminder_channels"]:checked')].map((i) => i.value),
          recording_visibility: form.elements.recording_visibility.value,
          waiting_room: form.elements.waiting_room.checked,
          sign_up: (form.querySelector('input[name="sign_up"]:checked') || {}).value,
        }));
        Portal.flashNext(Portal.t("Settings saved."));
        location.reload();
      } catch (err) { Portal.showError(box, err, form); }
    });
  });
})();
