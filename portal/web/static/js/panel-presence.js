/* Who is here: GET /api/schedules/<id>/presence -> {users: [{id, name, role}]} (polled). */
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", () => {
    const panel = document.getElementById("panel-presence");
    if (!panel || Portal.roomBlocked()) return;
    const sid = panel.dataset.scheduleId;
    const list = document.getElementById("presence-list");
    let stopped = false;
    async function refresh() {
      try {
        const data = await Portal.api("GET", "/api/schedules/" + sid + "/presence");
        const people = (data && data.users) || Portal.items(data);
        document.getElementById("presence-count").textContent = "(" + people.length + ")";
        list.replaceChildren(...people.map((p) => Portal.el("li", {}, p.name,
          p.role === "teacher" ? Portal.el("span", { class: "badge", text: " teacher" }) : null)));
      } catch (err) { if (err.status === 403 || err.status === 404) stopped = true; }
      if (!stopped) setTimeout(refresh, 5000);
    }
    document.addEventListener("portal:room-state", (e) => { if (e.detail.state === "ended") stopped = true; });
    refresh();
  });
})();
