/* Recordings: GET /api/classes/<id>/recordings -> [{id, title, recorded_at,
 * duration_seconds, playback_url, has_file, visibility}] (students get published ones);
 * each opens its page /recordings/<id> (player, download; the teacher's visibility and
 * share link there); the teacher deletes (DELETE /api/recordings/<id>). */
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
        Portal.el("a", { href: "/recordings/" + r.id, text: r.title || "Recording" }),
        Portal.el("span", { class: "muted", text: " " + Portal.formatTime(r.recorded_at, true) + (r.duration_seconds ? ", " + Math.round(r.duration_seconds / 60) + " min" : "") }),
        manager ? Portal.el("span", { class: "badge" + (r.visibility === "teachers" ? " muted" : ""), text: r.visibility }) : null,
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
