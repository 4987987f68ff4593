/* Attendance for the teacher: GET /api/schedules/<id>/attendance
 * -> [{display_name|name, first_joined_at, left_at}]. */
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
        const rows = Portal.items(await Portal.api("GET", "/api/schedules/" + sid + "/attendance"));
        body.replaceChildren(...rows.map((r) => Portal.el("tr", {},
          Portal.el("td", { text: r.display_name || r.name || (r.user && r.user.name) || "" }),
          Portal.el("td", { text: Portal.formatTime(r.first_joined_at) }),
          Portal.el("td", { text: r.left_at ? Portal.formatTime(r.left_at) : "still here" }))));
      } catch (err) { if (err.status === 403 || err.status === 404) stopped = true; }
      if (!stopped) setTimeout(refresh, 15000);
    }
    refresh();
  });
})();
