/* Shared media: GET /api/schedules/<id>/media -> [{id, title|filename, url|download_url}]. */
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", () => {
    const panel = document.getElementById("panel-media");
    if (!panel) return;
    const sid = panel.dataset.scheduleId;
    const list = document.getElementById("media-list");
    let stopped = false;
    async function refresh() {
      try {
        const rows = Portal.items(await Portal.api("GET", "/api/schedules/" + sid + "/media"));
        if (rows.length) {
          list.replaceChildren(...rows.map((m) => Portal.el("li", {},
            Portal.el("a", { href: m.url || m.download_url, target: "_blank", rel: "noopener", text: m.title || m.filename || "media" }))));
        }
      } catch (err) { if (err.status === 403 || err.status === 404) stopped = true; }
      if (!stopped) setTimeout(refresh, 10000);
    }
    refresh();
  });
})();
