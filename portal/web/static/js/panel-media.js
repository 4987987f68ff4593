/* Files shared in the class: GET /api/classes/<cid>/media?schedule_id=<sid> -> [{id,
 * filename, size_bytes, created_at}], fetched again on the pushed media:shared /
 * media:removed (polled only while the socket is down); opening one asks GET /api/media/<id>/download
 * for a short-lived link; sharing is POST /api/classes/<cid>/media (multipart "file",
 * "schedule_id"). */
(function () {
  "use strict";
  const POLL_MS = 10000;
  document.addEventListener("DOMContentLoaded", () => {
    const panel = document.getElementById("panel-media");
    if (!panel || Portal.roomBlocked()) return;
    const sid = panel.dataset.scheduleId;
    const cid = panel.dataset.classId;
    const list = document.getElementById("media-list");
    const errorBox = panel.querySelector("[data-panel-error]");
    let fallback = null;

    async function open(item, button) {
      try {
        const link = await Portal.busy(button, () => Portal.api("GET", "/api/media/" + item.id + "/download"));
        window.open(link.url, "_blank", "noopener");
      } catch (err) { Portal.showError(errorBox, err); }
    }

    async function refresh() {
      try {
        const rows = Portal.items(await Portal.api("GET", "/api/classes/" + cid + "/media?schedule_id=" + sid));
        list.replaceChildren(...(rows.length ? rows.map((m) => Portal.el("li", {},
          Portal.el("button", { type: "button", class: "link", onclick: (e) => open(m, e.currentTarget) }, m.filename),
          Portal.el("span", { class: "muted", text: " " + Math.ceil((m.size_bytes || 0) / 1024) + " KB" })))
          : [Portal.el("li", { class: "muted", text: Portal.t("Nothing shared yet.") })]));
      } catch (err) { if ((err.status === 403 || err.status === 404) && fallback) fallback.stop(); }
    }

    const form = document.getElementById("media-form");
    if (form) {
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        const file = form.elements.file.files[0];
        try {
          if (!file) throw Portal.invalid("file", Portal.t("choose a file to share"));
          const data = new FormData();
          data.append("file", file);
          data.append("schedule_id", sid);
          await Portal.busy(form.querySelector("button"), () => Portal.api("POST", "/api/classes/" + cid + "/media", data));
          form.reset();
          Portal.hideError(errorBox, form);
          refresh();
        } catch (err) { Portal.showError(errorBox, err, form); }
      });
    }
    // Shared and removed files are pushed; REST is polled only while the socket is down.
    fallback = Portal.restFallback({ everyMs: POLL_MS, refresh });
    if (Portal.live) {
      for (const name of ["media:shared", "media:removed"]) {
        Portal.live.on(name, (data) => { if (String(data.schedule_id) === String(sid)) refresh(); });
      }
    }
    refresh();
  });
})();
