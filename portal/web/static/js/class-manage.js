/* Teacher tools on the class page: cancel, students (search, add, remove, CSV import). */
(function () {
  "use strict";
  const MAX_IMPORT = 500;

  function section() { return document.getElementById("students"); }
  function classId() { return document.getElementById("class-head").dataset.classId; }
  function errorBox() { return document.querySelector("#class-head [data-form-error]"); }

  function newRow(user) {
    return Portal.el("tr", { dataset: { userId: user.id, userName: user.name } },
      Portal.el("td", { text: user.name }), Portal.el("td", { text: user.email }),
      Portal.el("td", { class: "actions" },
        Portal.el("button", { type: "button", class: "small secondary", dataset: { unenrol: user.id } },
          Portal.t("Remove"), Portal.el("span", { class: "visually-hidden", text: " " + user.name })),
        Portal.el("button", { type: "button", class: "small danger", "data-class-block": true },
          Portal.t("Block"), Portal.el("span", { class: "visually-hidden", text: " " + Portal.t("%(name)s from this class", { name: user.name }) }))));
  }

  function updateCount() {
    const count = document.querySelectorAll("#enrolled tbody tr").length;
    document.querySelector("[data-student-count]").textContent = "(" + count + ")";
    document.querySelector("[data-no-students]").hidden = count > 0;
  }

  function renderEnrolled(enrolments) {
    // Keep existing rows (they carry block state); add rows for new students.
    const tbody = document.querySelector("#enrolled tbody");
    const rows = new Map([...tbody.querySelectorAll("tr")].map((tr) => [Number(tr.dataset.userId), tr]));
    tbody.replaceChildren(...enrolments.map((e) => rows.get(e.user.id) || newRow(e.user)));
    updateCount();
  }

  function enrolledIds() {
    return new Set([...document.querySelectorAll("#enrolled tbody tr")].map((tr) => Number(tr.dataset.userId)));
  }

  async function enrol(ids) {
    const enrolments = await Portal.api("POST", "/api/classes/" + classId() + "/enrolments", { user_ids: ids });
    renderEnrolled(enrolments);
    return enrolments;
  }

  async function search(form) {
    const q = form.elements.q.value.trim();
    const results = document.getElementById("student-results");
    const data = await Portal.api("GET", "/api/users?role=student&limit=20&q=" + encodeURIComponent(q));
    const already = enrolledIds();
    const rows = Portal.items(data);
    if (!rows.length) { results.replaceChildren(Portal.el("li", { class: "muted", text: Portal.t("No student found.") })); return; }
    results.replaceChildren(...rows.map((u) => Portal.el("li", {},
      Portal.el("span", { text: u.name + " <" + u.email + "> " }),
      already.has(u.id) ? Portal.el("span", { class: "muted", text: "enrolled" })
        : Portal.el("button", { type: "button", class: "small", dataset: { enrol: u.id } }, Portal.t("Add"),
          Portal.el("span", { class: "visually-hidden", text: " " + u.name })))));
  }

  function emailsFromCsv(text) {
    const lines = text.split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
    if (!lines.length) return [];
    const header = lines[0].split(/[,;\t]/).map((c) => c.trim().replace(/^"|"$/g, "").toLowerCase());
    const column = header.indexOf("email");
    const body = column >= 0 ? lines.slice(1) : lines;
    const out = [];
    for (const line of body) {
      const cells = line.split(/[,;\t]/).map((c) => c.trim().replace(/^"|"$/g, ""));
      const value = column >= 0 ? cells[column] : cells.find((c) => c.includes("@"));
      if (value && value.includes("@")) out.push(value.toLowerCase());
    }
    return [...new Set(out)];
  }

  async function importCsv(form) {
    const result = document.getElementById("csv-result");
    const file = form.elements.file.files[0];
    if (!file) throw Portal.invalid("file", Portal.t("choose a CSV file first"));
    const emails = emailsFromCsv(await file.text());
    if (!emails.length) throw Portal.invalid("file", Portal.t("no email address found in this file"));
    if (emails.length > MAX_IMPORT) throw Portal.invalid("file", Portal.t("at most %(max)s addresses per import", { max: MAX_IMPORT }));
    const found = [];
    const missing = [];
    for (const email of emails) {
      result.textContent = Portal.t("Looking up %(email)s…", { email });
      const rows = Portal.items(await Portal.api("GET", "/api/users?role=student&limit=5&q=" + encodeURIComponent(email)));
      const match = rows.find((u) => u.email.toLowerCase() === email);
      if (match) found.push(match.id); else missing.push(email);
    }
    const fresh = found.filter((id) => !enrolledIds().has(id));
    if (fresh.length) await enrol(fresh);
    let message = Portal.nt("%(num)d student enrolled", "%(num)d students enrolled", fresh.length);
    if (found.length > fresh.length) message += ", " + Portal.nt("%(num)d already enrolled", "%(num)d already enrolled", found.length - fresh.length);
    if (missing.length) message += ". " + Portal.t("No student account for: %(emails)s", { emails: missing.join(", ") });
    result.textContent = message + ".";
  }

  let moving = null;
  function openMove(button) {
    const dialog = document.getElementById("move-dialog");
    const form = document.getElementById("move-form");
    const wall = Portal.zonedParts(button.dataset.startsAt, dialog.dataset.timezone);
    moving = button.dataset.moveSchedule;
    Portal.hideError(form.querySelector("[data-dialog-error]"), form);
    form.elements.date.value = wall.date;
    form.elements.time.value = wall.time;
    form.elements.duration.value = button.dataset.minutes;
    dialog.showModal();
    form.elements.date.focus();
  }

  let blocking = null;
  function openBlock(row) {
    const dialog = document.getElementById("class-block-dialog");
    const form = document.getElementById("class-block-form");
    blocking = row;
    form.reset();
    Portal.hideError(form.querySelector("[data-dialog-error]"), form);
    dialog.querySelector("[data-block-name]").textContent = row.dataset.userName;
    dialog.showModal();
    form.elements.reason.focus();
  }

  function wireBlock() {
    const dialog = document.getElementById("class-block-dialog");
    if (!dialog) return;
    const form = document.getElementById("class-block-form");
    const box = form.querySelector("[data-dialog-error]");
    dialog.querySelector("[data-close-dialog]").addEventListener("click", () => dialog.close());
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      Portal.hideError(box, form);
      const reason = form.elements.reason.value.trim();
      try {
        if (!reason) throw Portal.invalid("reason", Portal.t("give a reason; the student will see it"));
        await Portal.busy(form.querySelector('button[type="submit"]'), () => Portal.api("POST", "/api/blocks", {
          user_id: Number(blocking.dataset.userId), scope: "class", class_id: Number(classId()), reason }));
        dialog.close();
        Portal.flashNext(Portal.t("%(name)s is blocked from this class.", { name: blocking.dataset.userName }));
        location.reload();
      } catch (err) { Portal.showError(box, err, form); }
    });
  }

  function wireMove() {
    const dialog = document.getElementById("move-dialog");
    if (!dialog) return;
    const form = document.getElementById("move-form");
    const box = form.querySelector("[data-dialog-error]");
    dialog.querySelector("[data-close-dialog]").addEventListener("click", () => dialog.close());
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      Portal.hideError(box, form);
      try {
        const date = form.elements.date.value;
        const time = form.elements.time.value;
        const minutes = Number(form.elements.duration.value);
        if (!date) throw Portal.invalid("date", Portal.t("choose a date"));
        if (!time) throw Portal.invalid("time", Portal.t("choose a start time"));
        if (!Number.isInteger(minutes) || minutes < 1 || minutes > 1440) throw Portal.invalid("duration", Portal.t("the duration must be between 1 and 1440 minutes"));
        await Portal.busy(form.querySelector('button[type="submit"]'), () => Portal.api("PATCH", "/api/schedules/" + moving, {
          starts_at: Portal.zonedIso(date, time, dialog.dataset.timezone), duration_minutes: minutes }));
        dialog.close();
        Portal.flashNext(Portal.t("Occurrence moved."));
        location.reload();
      } catch (err) { Portal.showError(box, err, form); }
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    wireMove();
    wireBlock();
    const box = errorBox();
    document.addEventListener("click", async (event) => {
      const target = event.target.closest("button");
      if (!target) return;
      try {
        if (target.dataset.enrol) {
          await Portal.busy(target, () => enrol([Number(target.dataset.enrol)]));
          target.replaceWith(Portal.el("span", { class: "muted", text: "enrolled" }));
          Portal.flash(Portal.t("Student added."));
        } else if (target.dataset.unenrol) {
          await Portal.busy(target, () => Portal.api("DELETE", "/api/classes/" + classId() + "/enrolments/" + target.dataset.unenrol));
          target.closest("tr").remove();
          updateCount();
          Portal.flash(Portal.t("Student removed."));
        } else if (target.hasAttribute("data-cancel-class")) {
          if (!confirm(Portal.t("Cancel this class and all its future occurrences? Students will be told."))) return;
          await Portal.busy(target, () => Portal.api("POST", "/api/classes/" + classId() + "/cancel"));
          Portal.flashNext(Portal.t("Class cancelled."));
          location.reload();
        } else if (target.hasAttribute("data-class-block")) {
          openBlock(target.closest("tr"));
          return;
        } else if (target.hasAttribute("data-class-unblock")) {
          const row = target.closest("tr");
          await Portal.busy(target, () => Portal.api("DELETE", "/api/blocks/" + row.dataset.blockId));
          Portal.flashNext(Portal.t("%(name)s may join this class again.", { name: row.dataset.userName }));
          location.reload();
        } else if (target.dataset.moveSchedule) {
          openMove(target);
          return;
        } else if (target.dataset.cancelSchedule) {
          if (!confirm(Portal.t("Cancel this occurrence?"))) return;
          await Portal.busy(target, () => Portal.api("POST", "/api/schedules/" + target.dataset.cancelSchedule + "/cancel"));
          Portal.flashNext(Portal.t("Occurrence cancelled."));
          location.reload();
        } else { return; }
        Portal.hideError(box);
      } catch (err) { Portal.showError(box, err); }
    });
    if (!section()) return;
    const searchForm = document.getElementById("student-search");
    searchForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      try { await search(searchForm); Portal.hideError(box); } catch (err) { Portal.showError(box, err); }
    });
    const csvForm = document.getElementById("csv-import");
    csvForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      Portal.clearErrors(csvForm);
      try {
        await Portal.busy(csvForm.querySelector("button"), () => importCsv(csvForm));
        Portal.hideError(box, csvForm);
      } catch (err) { Portal.showError(box, err, csvForm); }
    });
  });
})();
