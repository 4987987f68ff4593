/* Attendance for the teacher: GET /api/schedules/<id>/attendance -> {present_count,
 * rows: [{name, role, present, first_joined_at, left_at, minutes}]} (polled). */
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", () => {
    const panel = document.getElementById("panel-attendance");
    if (!panel) return;
    const sid = panel.dataset.scheduleId;
    const body = document.getElementById("attendance-rows");
    let stopped = false;
    async function refresh() {
      try {
        const report = await Portal.api("GET", "/api/schedules/" + sid + "/attendance");
        const rows = (report && report.rows) || Portal.items(report);
        document.getElementById("attendance-count").textContent = "(" + (report.present_count ?? rows.length) + " present)";
        body.replaceChildren(...rows.map((r) => Portal.el("tr", { class: r.present === false ? "muted" : null },
          Portal.el("td", { text: r.name + (r.role === "teacher" ? " (teacher)" : "") }),
          Portal.el("td", { text: r.first_joined_at ? Portal.formatTime(r.first_joined_at) : "absent" }),
          Portal.el("td", { text: r.minutes != null ? String(r.minutes) : "" }))));
      } catch (err) { if (err.status === 403 || err.status === 404) stopped = true; }
      if (!stopped) setTimeout(refresh, 15000);
    }
    refresh();
  });
})();
