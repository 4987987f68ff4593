/* Recordings: GET /api/classes/<id>/recordings -> [{id, title, recorded_at,
 * duration_seconds, playback_url, has_file, published}] (students get published ones);
 * a stored file opens through GET /api/recordings/<id>/download; the teacher publishes
 * or hides (POST /api/recordings/<id>/publish {published}) and deletes (DELETE). */
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
      if (!rows.length) { list.replaceChildren(Portal.el("li", { class: "muted", text: "No recording yet." })); return; }
      list.replaceChildren(...rows.map((r) => Portal.el("li", { class: "recording" },
        r.playback_url ? Portal.el("a", { href: r.playback_url, target: "_blank", rel: "noopener", text: r.title || "Recording" })
          : r.has_file ? Portal.el("button", { type: "button", class: "link", onclick: async (e) => {
            try {
              const link = await Portal.busy(e.currentTarget, () => Portal.api("GET", "/api/recordings/" + r.id + "/download"));
              window.open(link.url, "_blank", "noopener");
            } catch (err) { Portal.showError(errorBox, err); }
          } }, r.title || "Recording") : (r.title || "Recording"),
        Portal.el("span", { class: "muted", text: " " + Portal.formatTime(r.recorded_at, true) + (r.duration_seconds ? ", " + Math.round(r.duration_seconds / 60) + " min" : "") }),
        manager ? Portal.el("span", { class: "badge" + (r.published ? "" : " muted"), text: r.published ? "published" : "hidden" }) : null,
        manager ? Portal.el("button", { type: "button", class: "small secondary", onclick: (e) => act(e.currentTarget, "POST", "/api/recordings/" + r.id + "/publish", { published: !r.published }) },
          r.published ? "Unpublish" : "Publish") : null,
        manager ? Portal.el("button", { type: "button", class: "small danger", onclick: (e) => {
          if (confirm("Delete this recording for good?")) act(e.currentTarget, "DELETE", "/api/recordings/" + r.id);
        } }, "Delete") : null)));
    }

    async function load() {
      try { render(Portal.items(await Portal.api("GET", "/api/classes/" + cid + "/recordings"))); }
      catch (err) { Portal.showError(errorBox, err); }
    }
    load();
  });
})();
