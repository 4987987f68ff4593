/* Live chat over the page's socket (Portal.live): the join ack carries the latest page of
 * history, `chat:message` / `chat:deleted` / `chat:muted` are pushed, and `chat:send`
 * posts. Only while the socket cannot connect does the panel poll REST instead:
 * GET /api/schedules/<id>/chat -> {messages: [{id, user: {id, name, role} | null, body,
 * created_at}], has_more}; POST {body} -> the message. */
(function () {
  "use strict";
  const POLL_MS = 3000;
  document.addEventListener("DOMContentLoaded", () => {
    const panel = document.getElementById("panel-chat");
    if (!panel || Portal.roomBlocked()) return;
    const sid = Number(panel.dataset.scheduleId);
    const log = document.getElementById("chat-log");
    const errorBox = panel.querySelector("[data-panel-error]");
    const form = document.getElementById("chat-form");
    const live = Portal.live;
    const seen = new Set();

    function add(m) {
      if (seen.has(m.id)) return;
      seen.add(m.id);
      Portal.insertById(log, Portal.el("li", { class: "chat-message", dataset: { messageId: m.id } },
        Portal.el("bdi", { class: "chat-author", text: (m.user && m.user.name) || Portal.t("someone") }),
        m.user && m.user.role === "teacher" ? Portal.el("span", { class: "badge", text: Portal.t("teacher") }) : null, " ",
        Portal.el("time", { datetime: m.created_at, class: "muted", text: Portal.formatTime(m.created_at) }),
        Portal.el("p", { text: m.body })));
      log.scrollTop = log.scrollHeight;
    }

    function remove(id) {
      const item = log.querySelector('[data-message-id="' + CSS.escape(String(id)) + '"]');
      if (item) item.remove();
    }

    Portal.restFallback({
      everyMs: POLL_MS,
      async refresh() {
        const page = await Portal.api("GET", "/api/schedules/" + sid + "/chat");
        ((page && page.messages) || []).forEach(add);
        Portal.hideError(errorBox);
      },
      onError: (err) => Portal.showError(errorBox, err),
    });

    if (form) {
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        const body = form.elements.body.value.trim();
        if (!body) return;
        try {
          const message = await Portal.busy(form.querySelector("button"), async () => {
            if (live && live.connected) return (await live.call("chat:send", { schedule_id: sid, body })).message;
            return Portal.api("POST", "/api/schedules/" + sid + "/chat", { body });
          });
          if (message && message.id !== undefined) add(message);
          form.elements.body.value = "";
          Portal.hideError(errorBox);
        } catch (err) { Portal.showError(errorBox, err); }
        form.elements.body.focus();
      });
    }
    document.addEventListener("portal:room-state", (e) => {
      // After the class the log stays readable but nobody writes into it any more.
      if (e.detail.state === "ended" && form) form.hidden = true;
    });
    if (!live) return;
    live.on("live:joined", (ack) => (ack.messages || []).forEach(add));
    live.on("chat:message", add);
    live.on("chat:deleted", (data) => remove(data.id));
    live.on("chat:muted", (data) => {
      if (!panel.dataset.userId || String(data.user_id) !== panel.dataset.userId) return;
      if (data.muted) Portal.showError(errorBox, new Error(Portal.t("the teacher has muted you in this chat")));
      else Portal.hideError(errorBox);
    });
  });
})();
