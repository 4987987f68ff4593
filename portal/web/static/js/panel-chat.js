/* Live chat over REST: GET /api/schedules/<id>/messages?after=<last id> (polled),
 * POST {text}. Messages: {id, text|body, author|user{name}|author_name, created_at}. */
(function () {
  "use strict";
  const POLL_MS = 3000;
  document.addEventListener("DOMContentLoaded", () => {
    const panel = document.getElementById("panel-chat");
    if (!panel) return;
    const sid = panel.dataset.scheduleId;
    const log = document.getElementById("chat-log");
    const errorBox = panel.querySelector("[data-panel-error]");
    const seen = new Set();
    let last = 0;
    let stopped = false;

    function author(m) {
      return (m.user && m.user.name) || (m.author && (m.author.name || m.author)) || m.author_name || m.user_name || "someone";
    }

    function add(m) {
      if (seen.has(m.id)) return;
      seen.add(m.id);
      last = Math.max(last, Number(m.id) || 0);
      log.append(Portal.el("li", { class: "chat-message" },
        Portal.el("span", { class: "chat-author", text: author(m) }), " ",
        Portal.el("time", { datetime: m.created_at, class: "muted", text: Portal.formatTime(m.created_at) }),
        Portal.el("p", { text: m.text !== undefined ? m.text : m.body })));
      log.scrollTop = log.scrollHeight;
    }

    async function refresh() {
      try {
        const data = await Portal.api("GET", "/api/schedules/" + sid + "/messages" + (last ? "?after=" + last : ""));
        Portal.items(data).forEach(add);
        Portal.hideError(errorBox);
      } catch (err) {
        if (err.status === 403 || err.status === 404) { stopped = true; }
        Portal.showError(errorBox, err);
      }
      if (!stopped) setTimeout(refresh, POLL_MS);
    }

    const form = document.getElementById("chat-form");
    if (form) {
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        const text = form.elements.text.value.trim();
        if (!text) return;
        try {
          const message = await Portal.busy(form.querySelector("button"), () =>
            Portal.api("POST", "/api/schedules/" + sid + "/messages", { text }));
          if (message && message.id !== undefined) add(message);
          form.elements.text.value = "";
          Portal.hideError(errorBox);
        } catch (err) { Portal.showError(errorBox, err); }
        form.elements.text.focus();
      });
    }
    document.addEventListener("portal:room-state", (e) => {
      // After the class the log stays readable but nobody writes into it any more.
      if (e.detail.state === "ended") { stopped = true; if (form) form.hidden = true; }
    });
    refresh();
  });
})();
