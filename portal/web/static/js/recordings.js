/* Recordings: GET /api/classes/<id>/recordings -> [{id, title, recorded_at,
 * duration_seconds, playback_url, has_file, visibility}] (students get published ones);
 * each opens its page /recordings/<id> (player, download; the teacher's visibility and
 * share link there); the teacher deletes (DELETE /api/recordings/<id>).
 * The class's teachers (#recording-jobs is on their page only) also see each occurrence whose
 * recording is being prepared (GET /api/classes/<id>/recording-jobs): its percent, or why it
 * failed with a Retry (POST /api/schedules/<id>/recording-job/retry). A bounded refresh keeps
 * it current: every ACTIVE_MS while one is being prepared, every IDLE_MS otherwise, for
 * REFRESH_FOR_MS after the page opened; when one leaves the list its recording is listed. */
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", () => {
    const section = document.getElementById("recordings");
    if (!section) return;
    const cid = section.dataset.classId;
    const manager = section.dataset.manager === "yes";
    const list = document.getElementById("recording-list");
    const errorBox = section.querySelector("[data-panel-error]");

    async function act(button, method, url, body) {
      try { await Portal.busy(button, () => Portal.api(method, url, body)); load(); }
      catch (err) { Portal.showError(errorBox, err); }
    }

    function render(rows) {
      if (!rows.length) { list.replaceChildren(Portal.el("li", { class: "muted", text: Portal.t("No recording yet.") })); return; }
      list.replaceChildren(...rows.map((r) => Portal.el("li", { class: "recording" },
        Portal.el("a", { href: "/recordings/" + r.id, text: r.title || Portal.t("Recording") }),
        Portal.el("span", { class: "muted", text: " " + Portal.formatTime(r.recorded_at, true) + (r.duration_seconds ? ", " + Math.round(r.duration_seconds / 60) + " min" : "") }),
        manager ? Portal.el("span", { class: "badge" + (r.visibility === "teachers" ? " muted" : ""), text: r.visibility }) : null,
        manager ? Portal.el("button", { type: "button", class: "small danger", onclick: (e) => {
          if (confirm(Portal.t("Delete this recording for good?"))) act(e.currentTarget, "DELETE", "/api/recordings/" + r.id);
        } }, Portal.t("Delete")) : null)));
    }

    async function load() {
      try { render(Portal.items(await Portal.api("GET", "/api/classes/" + cid + "/recordings"))); }
      catch (err) { Portal.showError(errorBox, err); }
    }
    load();

    const jobList = document.getElementById("recording-jobs");
    if (!jobList) return;
    const ACTIVE_MS = 2000, IDLE_MS = 10000, REFRESH_FOR_MS = 2 * 3600 * 1000;
    const opened = Date.now();
    let shown = new Set();
    let timer = null;

    function renderJobs(jobs) {
      jobList.replaceChildren(...jobs.map((j) => {
        const when = Portal.formatTime(j.starts_at, true);
        if (j.state === "failed") {
          return Portal.el("li", { class: "recording-job failed", "data-schedule-id": String(j.schedule_id) },
            Portal.el("span", { class: "error-text", text: Portal.t("The recording of %(when)s failed: %(reason)s", { when, reason: j.message || Portal.t("unknown error") }) + " " }),
            j.can_retry ? Portal.el("button", { type: "button", class: "small", onclick: (e) => retry(e.currentTarget, j.schedule_id) }, Portal.t("Retry")) : null);
        }
        const step = j.state === "queued" ? Portal.t("queued") : j.percent + " %";
        return Portal.el("li", { class: "recording-job", "data-schedule-id": String(j.schedule_id) },
          Portal.el("span", { text: Portal.t("Preparing the recording of %(when)s: %(step)s", { when, step }) }),
          Portal.el("progress", { max: "100", value: String(j.percent), "aria-label": Portal.t("Preparing the recording of %(when)s", { when }) }));
      }));
    }

    async function loadJobs() {
      clearTimeout(timer);
      let active = false;
      try {
        const jobs = Portal.items(await Portal.api("GET", "/api/classes/" + cid + "/recording-jobs"));
        const now = new Set(jobs.map((j) => j.schedule_id));
        if ([...shown].some((id) => !now.has(id))) load();  // ready: the recording is listed
        shown = now;
        renderJobs(jobs);
        active = jobs.some((j) => j.state !== "failed");
      } catch (err) {
        Portal.showError(errorBox, err);
        if (err.status === 403 || err.status === 404) return;  // not (or no longer) a teacher
      }
      if (Date.now() - opened < REFRESH_FOR_MS) timer = setTimeout(loadJobs, active ? ACTIVE_MS : IDLE_MS);
    }

    async function retry(button, scheduleId) {
      try { await Portal.busy(button, () => Portal.api("POST", "/api/schedules/" + scheduleId + "/recording-job/retry")); }
      catch (err) { Portal.showError(errorBox, err); }
      loadJobs();
    }
    loadJobs();
  });
})();
