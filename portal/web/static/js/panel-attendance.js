/* Attendance for the teacher: GET /api/schedules/<id>/attendance -> {present_count,
 * here_now_count, rows: [{name, role, present, here_now, first_joined_at, left_at,
 * minutes}]}. Presence and attendance are one truth, so the report is fetched again when
 * the pushed presence changes (debounced) and when the class starts or ends; only without
 * the socket is it refreshed on a timer. */
(function () {
  "use strict";
  const POLL_MS = 15000;
  const SETTLE_MS = 1000;
  document.addEventListener("DOMContentLoaded", () => {
    const panel = document.getElementById("panel-attendance");
    if (!panel) return;
    const sid = panel.dataset.scheduleId;
    const body = document.getElementById("attendance-rows");
    const live = Portal.live;
    let stopped = false;
    let pending = null;

    async function load() {
      try {
        const report = await Portal.api("GET", "/api/schedules/" + sid + "/attendance");
        const rows = (report && report.rows) || Portal.items(report);
        panel.dataset.presentCount = String(report.present_count ?? rows.length);
        panel.dataset.hereNowCount = String(report.here_now_count ?? 0);
        document.getElementById("attendance-count").textContent = "(" + Portal.t("%(present)s present, %(here)s here now", {
          present: report.present_count ?? rows.length, here: report.here_now_count ?? 0 }) + ")";
        body.replaceChildren(...rows.map((r) => Portal.el("tr", { class: r.present === false ? "muted" : null, dataset: { hereNow: r.here_now ? "yes" : "no" } },
          Portal.el("td", { text: (r.role === "teacher" ? Portal.t("%(name)s (teacher)", { name: r.name }) : r.name) + (r.here_now ? " ●" : "") }),
          Portal.el("td", { text: r.first_joined_at ? Portal.formatTime(r.first_joined_at) : Portal.t("absent") }),
          Portal.el("td", { text: r.minutes != null ? String(r.minutes) : "" }))));
      } catch (err) { if (err.status === 403 || err.status === 404) stopped = true; }
    }

    function soon() {
      // A burst of joins (a class-start rush) costs one report, not one per person.
      if (stopped || pending) return;
      pending = setTimeout(() => { pending = null; load(); }, SETTLE_MS);
    }

    const fallback = Portal.restFallback({
      everyMs: POLL_MS,
      refresh: async () => { await load(); if (stopped) fallback.stop(); },
    });
    if (!live) return;
    load();
    live.on("presence", soon);
    live.on("class:started", soon);
    live.on("class:ended", soon);
  });
})();
