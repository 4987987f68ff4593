/* Who is here: the people with this class room page open right now (the same truth as the
 * attendance report). The join ack and pushed `presence` events {schedule_id, users:
 * [{id, name, role}]} keep it current; only while the socket cannot connect does the panel
 * poll GET /api/schedules/<id>/presence. */
(function () {
  "use strict";
  const POLL_MS = 5000;
  document.addEventListener("DOMContentLoaded", () => {
    const panel = document.getElementById("panel-presence");
    if (!panel || Portal.roomBlocked()) return;
    const sid = Number(panel.dataset.scheduleId);
    const list = document.getElementById("presence-list");
    const live = Portal.live;

    function render(people) {
      document.getElementById("presence-count").textContent = "(" + people.length + ")";
      panel.dataset.count = String(people.length);
      list.replaceChildren(...people.map((p) => Portal.el("li", { dataset: { userId: p.id } }, Portal.el("bdi", { text: p.name }),
        p.role === "teacher" ? Portal.el("span", { class: "badge", text: " " + Portal.t("teacher") }) : null)));
    }

    Portal.restFallback({
      everyMs: POLL_MS,
      async refresh() {
        const data = await Portal.api("GET", "/api/schedules/" + sid + "/presence");
        render((data && data.users) || Portal.items(data));
      },
    });
    if (!live) return;
    live.on("live:joined", (ack) => render(ack.presence || []));
    live.on("presence", (data) => { if (data.schedule_id === sid) render(data.users || []); });
  });
})();
