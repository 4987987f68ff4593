/* Live chat over REST: GET /api/schedules/<id>/chat -> {messages: [{id, user: {id, name,
 * role} | null, body, created_at}], has_more} (the latest page, oldest first), polled;
 * POST {body} -> the message. */
(function () {
  "use strict";
  const POLL_MS = 3000;
  document.addEventListener("DOMContentLoaded", () => {
    const panel = document.getElementById("panel-chat");
    if (!panel || Portal.roomBlocked()) return;
    const sid = panel.dataset.scheduleId;
    const log = document.getElementById("chat-log");
    const errorBox = panel.querySelector("[data-panel-error]");
    const form = document.getElementById("chat-form");
    const seen = new Set();
    let stopped = false;

    function add(m) {
      if (seen.has(m.id)) return;
      seen.add(m.id);
      log.append(Portal.el("li", { class: "chat-message", dataset: { messageId: m.id } },
        Portal.el("span", { class: "chat-author", text: (m.user && m.user.name) || "someone" }),
        m.user && m.user.role === "teacher" ? Portal.el("span", { class: "badge", text: "teacher" }) : null, " ",
        Portal.el("time", { datetime: m.created_at, class: "muted", text: Portal.formatTime(m.created_at) }),
        Portal.el("p", { text: m.body })));
      log.scrollTop = log.scrollHeight;
    }

    async function refresh() {
      try {
        const page = await Portal.api("GET", "/api/schedules/" + sid + "/chat");
        ((page && page.messages) || []).forEach(add);
        Portal.hideError(errorBox);
      } catch (err) {
        if (err.status === 403 || err.status === 404) stopped = true;
        Portal.showError(errorBox, err);
      }
      if (!stopped) setTimeout(refresh, POLL_MS);
    }

    if (form) {
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        const body = form.elements.body.value.trim();
        if (!body) return;
        try {
          const message = await Portal.busy(form.querySelector("button"), () =>
            Portal.api("POST", "/api/schedules/" + sid + "/chat", { body }));
          if (message && message.id !== undefined) add(message);
          form.elements.body.value = "";
          Portal.hideError(errorBox);
        } catch (err) { Portal.showError(errorBox, err); }
        form.elements.body.focus();
      });
    }
    document.addEventListener("portal:room-state", (e) => {
      // After the class the log stays readable but nobody writes into it any more.
      if (e.detail.state === "ended") { stopped = true; if (form) form.hidden = true; }
    });
    refresh();
  });
})();
