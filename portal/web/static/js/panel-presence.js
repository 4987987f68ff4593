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
    let stopped = false;
    let polling = false;
    let timer = null;

    function render(people) {
      document.getElementById("presence-count").textContent = "(" + people.length + ")";
      panel.dataset.count = String(people.length);
      list.replaceChildren(...people.map((p) => Portal.el("li", { dataset: { userId: p.id } }, p.name,
        p.role === "teacher" ? Portal.el("span", { class: "badge", text: " teacher" }) : null)));
    }

    async function refresh() {
      if (!polling || stopped) return;
      try {
        const data = await Portal.api("GET", "/api/schedules/" + sid + "/presence");
        render((data && data.users) || Portal.items(data));
      } catch (err) { if (err.status === 403 || err.status === 404) stopped = true; }
      if (!stopped && polling) timer = setTimeout(refresh, POLL_MS);
    }

    function setPolling(on) {
      if (on === polling) return;
      polling = on;
      clearTimeout(timer);
      if (on) refresh();
    }

    document.addEventListener("portal:room-state", (e) => { if (e.detail.state === "ended") { stopped = true; setPolling(false); } });
    if (!live) { setPolling(true); return; }
    live.on("live:joined", (ack) => { setPolling(false); render(ack.presence || []); });
    live.on("presence", (data) => { if (data.schedule_id === sid) render(data.users || []); });
    document.addEventListener("portal:live-status", (e) => setPolling(!!e.detail.fallback && !stopped));
  });
})();
