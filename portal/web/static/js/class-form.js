/* Create / edit a class. The first occurrence is entered as a wall-clock time in the
 * class's time zone; recurrence choices become an RFC 5545 RRULE. */
(function () {
  "use strict";
  const DAY_CODES = ["SU", "MO", "TU", "WE", "TH", "FR", "SA"];
  const DAY_NAMES = { MO: Portal.t("Monday"), TU: Portal.t("Tuesday"), WE: Portal.t("Wednesday"), TH: Portal.t("Thursday"), FR: Portal.t("Friday"), SA: Portal.t("Saturday"), SU: Portal.t("Sunday") };


  function parseOffsets(text) {
    const values = text.split(/[\s,]+/).filter(Boolean);
    const out = [];
    for (const v of values) {
      if (!/^\d+$/.test(v)) throw Portal.invalid("reminder_offsets", Portal.t("reminders must be whole numbers of minutes, e.g. 1440, 15"));
      out.push(Number(v));
    }
    if (out.length > 5) throw Portal.invalid("reminder_offsets", Portal.t("at most 5 reminders"));
    if (out.some((n) => n > 20160)) throw Portal.invalid("reminder_offsets", Portal.t("a reminder can be at most 20160 minutes (14 days) before"));
    return out;
  }

  function buildRule(form) {
    if (form.elements.repeat.value !== "weekly") return null;
    const days = [...form.querySelectorAll('input[name="byday"]:checked')].map((i) => i.value);
    if (!days.length) throw Portal.invalid("byday", Portal.t("choose at least one day of the week"));
    const [y, m, d] = form.elements.date.value.split("-").map(Number);
    const first = DAY_CODES[new Date(Date.UTC(y, m - 1, d)).getUTCDay()];
    if (!days.includes(first)) {
      throw Portal.invalid("byday", Portal.t("the first date is a %(day)s: tick %(day)s too, or pick a first date on a chosen day", { day: DAY_NAMES[first] }));
    }
    const order = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"];
    let rule = "FREQ=WEEKLY;BYDAY=" + order.filter((c) => days.includes(c)).join(",");
    if (form.elements.ends.value === "until") {
      const until = form.elements.until.value;
      if (!until) throw Portal.invalid("until", Portal.t("choose the last date of the series"));
      if (until < form.elements.date.value) throw Portal.invalid("until", Portal.t("the last date must be on or after the first date"));
      rule += ";UNTIL=" + until.replace(/-/g, "") + "T235959";
    } else {
      const count = Number(form.elements.count.value);
      if (!Number.isInteger(count) || count < 1 || count > 400) throw Portal.invalid("count", Portal.t("the number of occurrences must be between 1 and 400"));
      rule += ";COUNT=" + count;
    }
    return rule;
  }

  function common(form) {
    const title = form.elements.title.value.trim();
    if (!title) throw Portal.invalid("title", Portal.t("give the class a title"));
    const backend = form.elements.backend_config_id.value;
    return {
      title: title,
      description: form.elements.description.value,
      backend: backend ? Number(backend) : null,
      record: form.elements.record.checked,
      reminder_offsets: parseOffsets(form.elements.reminder_offsets.value),
      reminder_channels: [...form.querySelectorAll('input[name="reminder_channels"]:checked')].map((i) => i.value),
      room_settings: roomSettings(form),
    };
  }

  // The room settings the chosen meeting system honours (hidden ones are not sent).
  function roomSettings(form) {
    const out = {};
    form.querySelectorAll("[data-room-setting]").forEach((box) => {
      if (box.hidden) return;
      const name = box.dataset.roomSetting;
      const input = form.elements["room_" + name];
      out[name] = input.type === "checkbox" ? input.checked : input.value;
    });
    return out;
  }

  function syncRoomSettings(form) {
    const option = form.elements.backend_config_id.selectedOptions[0];
    const honoured = ((option && option.dataset.roomSettings) || "chat").split(",");
    form.querySelectorAll("[data-room-setting]").forEach((box) => {
      box.hidden = !honoured.includes(box.dataset.roomSetting);
    });
  }

  function createBody(form) {
    const base = common(form);
    const date = form.elements.date.value;
    const time = form.elements.time.value;
    if (!date) throw Portal.invalid("date", Portal.t("choose the date of the first class"));
    if (!time) throw Portal.invalid("time", Portal.t("choose the start time"));
    const duration = Number(form.elements.duration.value);
    if (!Number.isInteger(duration) || duration < 1 || duration > 1440) throw Portal.invalid("duration", Portal.t("the duration must be between 1 and 1440 minutes"));
    const tz = form.elements.timezone.value.trim();
    if (!tz || !Portal.checkZone(tz)) throw Portal.invalid("timezone", Portal.t("choose a time zone from the list, e.g. Europe/Paris"));
    const body = {
      title: base.title, description: base.description, starts_at: Portal.zonedIso(date, time, tz),
      duration_minutes: duration, timezone: tz, rrule: buildRule(form), record: base.record,
      reminder_offsets: base.reminder_offsets, reminder_channels: base.reminder_channels,
      room_settings: base.room_settings,
    };
    if (base.backend) body.backend_config_id = base.backend;
    body.waiting_room = form.elements.waiting_room.checked;
    return body;
  }

  function editBody(form) {
    const base = common(form);
    const body = { title: base.title, description: base.description, record: base.record,
                   reminder_offsets: base.reminder_offsets, reminder_channels: base.reminder_channels,
                   room_settings: base.room_settings };
    if (base.backend) body.backend_config_id = base.backend; else body.clear_backend = true;
    body.waiting_room = form.elements.waiting_room.checked;
    return body;
  }

  function syncRepeat(form) {
    const weekly = document.getElementById("weekly");
    if (weekly) weekly.hidden = form.elements.repeat.value !== "weekly";
    const preview = document.getElementById("rrule-preview");
    if (preview && !weekly.hidden) {
      try { preview.textContent = form.elements.date.value ? Portal.t("Rule: %(rule)s", { rule: buildRule(form) }) : ""; }
      catch (err) { preview.textContent = ""; }
    }
  }

  function syncRecord(form) {
    const option = form.elements.backend_config_id.selectedOptions[0];
    const note = document.getElementById("record-note");
    if (note) note.hidden = !(option && option.dataset.recording === "no");
  }

  document.addEventListener("DOMContentLoaded", () => {
    const form = document.getElementById("class-form");
    if (!form) return;
    const errorBox = document.querySelector("[data-form-error]");
    if (form.elements.repeat) {
      form.addEventListener("change", () => syncRepeat(form));
      syncRepeat(form);
    }
    form.elements.backend_config_id.addEventListener("change", () => syncRecord(form));
    form.elements.backend_config_id.addEventListener("change", () => syncRoomSettings(form));
    syncRecord(form);
    syncRoomSettings(form);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      Portal.hideError(errorBox, form);
      const button = form.querySelector('button[type="submit"]');
      try {
        await Portal.busy(button, async () => {
          if (form.dataset.mode === "edit") {
            const id = form.dataset.classId;
            await Portal.api("PATCH", "/api/classes/" + id, editBody(form));
            Portal.flashNext(Portal.t("Changes saved."));
            location.assign("/classes/" + id);
          } else {
            const created = await Portal.api("POST", "/api/classes", createBody(form));
            let message = Portal.nt("Class created with %(num)d occurrence.", "Class created with %(num)d occurrences.", created.schedules.length);
            if (created.conflicts && created.conflicts.length) {
              message += " " + Portal.nt("Note: it overlaps %(num)d of your other class occurrences.", "Note: it overlaps %(num)d of your other class occurrences.", created.conflicts.length);
            }
            Portal.flashNext(message);
            location.assign("/classes/" + created.id);
          }
        });
      } catch (err) {
        Portal.showError(errorBox, err, form);
      }
    });
  });
})();
