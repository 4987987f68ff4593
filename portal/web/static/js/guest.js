/* The guest's room page: ask to enter, wait until the teacher admits (pushed lobby:admitted
 * over the guest's own socket, authenticated by the room credential the page carries, good
 * for this one occurrence), then join the meeting: embedded through the backend's room
 * script like the member room (Portal.rooms.mountTarget, room.js), or a link to a meeting
 * that opens in its own tab. The chat arrives live (chat:message); a "viewer only" guest
 * reads it without a box to write in. Without a socket the page asks the REST endpoints
 * every few seconds instead. */
(function () {
  "use strict";
  const POLL_MS = 3000;

  async function call(method, url, body) {
    const init = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(url, init);
    const data = response.status === 204 ? {} : await response.json().catch(() => ({}));
    if (!response.ok) {
      const error = (data && data.error) || {};
      throw Object.assign(new Error(error.message || Portal.t("something went wrong")), {
        status: response.status,
        code: error.code,
      });
    }
    return data;
  }

  function start() {
    const room = document.getElementById("guest-room");
    const scheduleId = room && room.dataset.scheduleId;
    if (!scheduleId) return;
    const sid = Number(scheduleId);
    const text = JSON.parse(document.getElementById("guest-texts").textContent);
    const status = document.getElementById("guest-status");
    const target = document.getElementById("guest-target");
    const stage = document.getElementById("guest-embed");
    const chat = document.getElementById("guest-chat");
    const chatForm = document.getElementById("guest-chat-form");
    const chatLog = document.getElementById("guest-chat-log");
    const viewerOnly = room.dataset.viewerOnly === "yes";
    let timer = null;
    let admitted = false;
    let inMeeting = false;
    let joining = false;
    let left = false;
    let mounted = null;
    const seen = new Set();

    function show(message) { status.textContent = message; }

    function addMessage(message) {
      if (!message || seen.has(message.id)) return;
      seen.add(message.id);
      const item = document.createElement("li");
      const who = document.createElement("strong");
      who.textContent = (message.user && message.user.name) || "";
      item.dataset.messageId = message.id;
      item.append(who, document.createTextNode(" " + message.body));
      Portal.insertById(chatLog, item);
    }

    // The guest's socket: this occurrence's lobby decisions, its start and end, its chat.
    let socket = null;
    if (typeof window.io === "function" && room.dataset.roomToken) {
      socket = window.io(room.dataset.realtimeUrl || undefined, {
        auth: { guest_token: room.dataset.roomToken },
        transports: ["websocket", "polling"],
        withCredentials: true,
        reconnectionDelayMax: 10000,
      });
      socket.on("connect", () => { if (admitted) joinPanel(); });
      socket.on("lobby:admitted", (data) => { if (data.schedule_id === sid && !data.user_id) admit(); });
      socket.on("lobby:refused", (data) => { if (data.schedule_id === sid && !data.user_id) refuse(data.message); });
      socket.on("class:started", (data) => { if (data.schedule_id === sid && admitted) join(); });
      socket.on("class:ended", (data) => { if (data.schedule_id === sid) ended(); });
      socket.on("chat:message", addMessage);
    }
    const live = () => socket !== null && socket.connected;

    function joinPanel() {
      socket.emit("join", { schedule_id: sid }, (ack) => {
        if (!ack || !ack.ok) return;
        (ack.messages || []).forEach(addMessage);
        chat.hidden = false;
        if (ack.state === "running") join();
      });
    }

    function admit() {
      if (admitted || left) return;
      admitted = true;
      clearTimeout(timer);
      if (live()) joinPanel();
      join();
    }

    function refuse(message) {
      clearTimeout(timer);
      show(message);
    }

    function ended() {
      clearTimeout(timer);
      unmount();
      show(text.ended);
    }

    async function unmount() {
      const current = mounted;
      mounted = null;
      inMeeting = false;
      if (current && typeof current.unmount === "function") {
        try { await current.unmount(); } catch (err) { console.error("the meeting's unmount failed", err); }
      }
      stage.replaceChildren();
      stage.hidden = true;
      target.replaceChildren();
      target.hidden = true;
    }

    async function showTarget(answer) {
      if (answer.kind === "embed") {
        stage.hidden = false;
        const ctx = {
          scheduleId: sid, manager: false, title: room.dataset.title,
          live: socket ? { on: (name, fn) => socket.on(name, fn) } : null,
          say: show, fail: (err) => show(err.message),
        };
        mounted = await window.Portal.rooms.mountTarget(stage, answer, ctx);
        if (mounted !== null) return;
        // An embed without a room script: the backend's page in a frame.
        stage.append(Object.assign(document.createElement("iframe"), {
          src: answer.url, title: text.meeting, allow: "camera; microphone; display-capture; fullscreen; autoplay",
        }));
        return;
      }
      const link = Object.assign(document.createElement("a"), {
        href: answer.url, target: "_blank", rel: "noopener", textContent: text.open, id: "guest-meeting-link",
      });
      target.replaceChildren(link);
      target.hidden = false;
    }

    async function join() {
      if (joining || inMeeting || left) return;
      joining = true;
      try {
        const answer = await call("POST", `/api/guest/schedules/${sid}/join`);
        inMeeting = true;
        show(text.in_class);
        if (!live()) chat.hidden = false;
        await showTarget(answer);
      } catch (err) {
        if (err.code === "not_started") show(text.not_started);
        else show(err.message);
        // Without a socket nothing will say the class started: ask again.
        if (err.status === 409 && !live()) timer = setTimeout(join, POLL_MS);
      } finally {
        joining = false;
      }
    }

    async function poll() {
      try {
        const me = await call("GET", "/api/guest/me");
        if (me.status === "admitted") return admit();
        if (me.status === "refused") return refuse(me.message);
        // The meeting's own lobby (BBB, Jitsi) holds the waiting room: go there now.
        if (me.waits_in === "meeting") return join();
        show(text.waiting);
      } catch (err) {
        return show(err.message);
      }
      if (!live()) timer = setTimeout(poll, POLL_MS);
    }

    call("POST", `/api/guest/schedules/${sid}/knock`).then(poll, (err) => show(err.message));
    if (socket) socket.on("disconnect", () => { if (!admitted && !left) timer = setTimeout(poll, POLL_MS); });

    if (chatForm) {
      chatForm.addEventListener("submit", async (event) => {
        event.preventDefault();
        const input = document.getElementById("guest-chat-text");
        const body = input.value.trim();
        if (!body || viewerOnly) return;
        try {
          if (live()) {
            const ack = await socket.timeout(10000).emitWithAck("chat:send", { schedule_id: sid, body });
            if (!ack.ok) throw new Error(ack.error.message);
            addMessage(ack.message);
          } else {
            addMessage(await call("POST", `/api/guest/schedules/${sid}/chat`, { body }));
          }
          input.value = "";
        } catch (err) {
          show(err.message);
        }
      });
    }

    document.getElementById("guest-leave").addEventListener("click", async () => {
      clearTimeout(timer);
      left = true;
      try {
        await call("POST", "/api/guest/leave");
      } catch (err) { /* the session ended already: leaving is done either way */ }
      if (socket) socket.disconnect();
      await unmount();
      chat.hidden = true;
      show(text.left);
    });
    window.addEventListener("pagehide", () => { unmount(); if (socket) socket.disconnect(); });
  }

  document.addEventListener("DOMContentLoaded", start);
})();
