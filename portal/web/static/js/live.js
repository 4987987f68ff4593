/* Portal.live: the class room's one Socket.IO connection (the vendored socket.io-client).
 *
 * It connects to the realtime server (same origin, or the room's data-realtime-url), joins
 * the occurrence's room with `join {schedule_id}` and joins again after every reconnect.
 * A join after a reconnect sends the last chat message id this page saw (`after_id`): the
 * ack then carries what was stored meanwhile, oldest first, and further pages are fetched
 * with `chat:history {after_id}` and handed to the "chat:message" handlers (the chat panel
 * drops ids it already shows), so a restarted realtime process loses no stored message.
 *   Portal.live.on(event, handler)   server-to-client events ("chat:message", ...) plus the
 *                                    local "live:joined" (the join ack: history, polls,
 *                                    presence, meeting state) and "live:join-failed";
 *                                    handlers may be added before the socket is up.
 *   Portal.live.call(event, payload, timeoutMs?) -> Promise of the ack's fields when ok,
 *                                    else rejects with an Error carrying .code and .message
 *                                    (as Portal.api): "offline" when the socket is down,
 *                                    "timeout" when no ack came within timeoutMs (10 s).
 *   Portal.live.connected            true while joined.
 * Every change of connection fires `portal:live-status` on document with
 * detail {connected, fallback}: fallback is true while the socket cannot connect, and the
 * panels then poll the REST API instead (the page says so in #live-status).
 *
 *   Portal.restFallback({everyMs, refresh, onError}) -> {stop()}: the one REST fallback of
 *                                    every panel. While there is no live connection (no
 *                                    socket on the page, or it cannot connect) it awaits
 *                                    refresh() every everyMs; the join ack ends it. A 403 or
 *                                    404 from refresh (or the class ending) stops it for good;
 *                                    onError(err) hears every failure. */
(function () {
  "use strict";
  if (!window.Portal) return;
  window.Portal.restFallback = function restFallback({ everyMs, refresh, onError }) {
    let polling = false;
    let stopped = false;
    let timer = null;

    async function tick() {
      if (!polling || stopped) return;
      try { await refresh(); } catch (err) {
        if (err.status === 403 || err.status === 404) stopped = true;
        if (onError) onError(err);
      }
      if (!stopped && polling) timer = setTimeout(tick, everyMs);
    }

    function setPolling(on) {
      on = on && !stopped;
      if (on === polling) return;
      polling = on;
      clearTimeout(timer);
      if (on) tick();
    }

    const control = { stop() { stopped = true; setPolling(false); } };
    document.addEventListener("portal:live-status", (e) => setPolling(!!e.detail.fallback));
    document.addEventListener("portal:room-state", (e) => { if (e.detail.state === "ended") control.stop(); });
    const live = window.Portal.live;
    if (live) live.on("live:joined", () => setPolling(false));
    else setPolling(true);
    return control;
  };
})();

(function () {
  "use strict";
  const room = document.getElementById("room");
  if (!room || !window.Portal) return;
  const scheduleId = Number(room.dataset.scheduleId);
  const CALL_TIMEOUT_MS = 10000;
  // A first connection that takes longer than this counts as "cannot connect" (REST fallback).
  const FALLBACK_AFTER_MS = 4000;
  const handlers = new Map();
  let socket = null;
  let fallbackTimer = null;
  let refreshing = false;
  let lastMessageId = null;  // the newest chat message seen: where a rejoin resumes
  const MISSED_PAGE = 200;

  function sawMessages(messages) {
    for (const m of messages || []) {
      if (typeof m.id === "number" && (lastMessageId === null || m.id > lastMessageId)) lastMessageId = m.id;
    }
  }

  function catchUp(hasMore) {
    // More was missed than one page: fetch the rest in order and deliver it as pushed.
    if (!hasMore || lastMessageId === null) return;
    live.call("chat:history", { schedule_id: scheduleId, after_id: lastMessageId, limit: MISSED_PAGE })
      .then((page) => {
        sawMessages(page.messages);
        for (const m of page.messages || []) dispatch("chat:message", m);
        catchUp(page.has_more);
      })
      .catch((err) => console.error("could not fetch the missed chat messages", err));
  }

  const live = {
    connected: false,
    fallback: false,
    joined: null,
    scheduleId,
    on(event, handler) {
      if (!handlers.has(event)) {
        handlers.set(event, []);
        if (socket && !event.startsWith("live:")) socket.on(event, (data) => dispatch(event, data));
      }
      handlers.get(event).push(handler);
      return live;
    },
    call(event, payload, timeoutMs) {
      return new Promise((resolve, reject) => {
        if (!socket || !live.connected) return reject(liveError("offline", Portal.t("the live connection is down; try again")));
        socket.timeout(timeoutMs || CALL_TIMEOUT_MS).emit(event, payload || {}, (err, answer) => {
          if (err) return reject(liveError("timeout", Portal.t("the portal did not answer in time; try again")));
          if (answer && answer.ok) { const { ok, ...rest } = answer; return resolve(rest); }
          const e = (answer && answer.error) || {};
          if (e.code === "token_expired") renewSession();
          reject(liveError(e.code || "error", e.message || Portal.t("the request failed")));
        });
      });
    },
  };
  window.Portal.live = live;

  function liveError(code, message) {
    const err = new Error(message);
    err.code = code;
    err.status = 0;
    return err;
  }

  function dispatch(event, data) {
    for (const handler of handlers.get(event) || []) {
      try { handler(data); } catch (err) { console.error("live handler for " + event + " failed", err); }
    }
  }

  function setStatus(connected, fallback) {
    const changed = connected !== live.connected || fallback !== live.fallback;
    live.connected = connected;
    live.fallback = fallback;
    const note = document.getElementById("live-status");
    if (note) {
      note.hidden = !fallback;
      note.textContent = fallback ? Portal.t("Live updates are unavailable: this page checks for news every few seconds instead.") : "";
    }
    room.dataset.live = connected ? "connected" : (fallback ? "fallback" : "connecting");
    if (changed) document.dispatchEvent(new CustomEvent("portal:live-status", { detail: { connected, fallback } }));
  }

  function startFallbackTimer() {
    // Once per outage: repeated connect errors must not keep postponing the fallback.
    if (fallbackTimer || live.fallback) return;
    fallbackTimer = setTimeout(() => { fallbackTimer = null; if (!live.connected) setStatus(false, true); }, FALLBACK_AFTER_MS);
  }

  async function renewSession() {
    // The socket authenticated with the access cookie it connected with: after a refresh,
    // connect again so the server sees the new token.
    if (refreshing) return;
    refreshing = true;
    try {
      if (window.Portal.refreshSession && (await window.Portal.refreshSession()) && socket) {
        socket.disconnect();
        socket.connect();
      }
    } finally { refreshing = false; }
  }

  function join() {
    const resync = lastMessageId !== null;
    const payload = resync
      ? { schedule_id: scheduleId, after_id: lastMessageId, limit: MISSED_PAGE }
      : { schedule_id: scheduleId };
    socket.timeout(CALL_TIMEOUT_MS).emit("join", payload, (err, answer) => {
      if (err) { socket.disconnect(); socket.connect(); return; }
      if (answer && answer.ok) {
        clearTimeout(fallbackTimer);
        fallbackTimer = null;
        live.joined = answer;
        sawMessages(answer.messages);
        setStatus(true, false);
        dispatch("live:joined", answer);
        if (resync) catchUp(answer.has_more);
        return;
      }
      const e = (answer && answer.error) || {};
      if (e.code === "token_expired") { renewSession(); return; }
      // Refused (not a member, blocked...): nothing to follow live; the page shows why.
      setStatus(false, false);
      dispatch("live:join-failed", liveError(e.code || "error", e.message || Portal.t("cannot join the class panel")));
    });
  }

  function connect() {
    if (typeof window.io !== "function") { setStatus(false, true); return; }
    const url = room.dataset.realtimeUrl || undefined;
    socket = window.io(url, {
      path: room.dataset.realtimePath || "/socket.io",
      transports: ["websocket", "polling"],
      tryAllTransports: true,
      withCredentials: true,
      reconnectionDelayMax: 10000,
      randomizationFactor: 0.5,
    });
    for (const event of handlers.keys()) {
      if (!event.startsWith("live:")) socket.on(event, (data) => dispatch(event, data));
    }
    socket.on("chat:message", (m) => sawMessages([m]));
    socket.on("connect", join);
    socket.on("disconnect", () => { setStatus(false, live.fallback); startFallbackTimer(); });
    socket.on("connect_error", (err) => {
      const code = err && err.data && err.data.code;
      if (code === "token_expired" || code === "invalid_token") renewSession();
      if (!live.connected) startFallbackTimer();
    });
    startFallbackTimer();
  }

  window.addEventListener("pagehide", () => { if (socket) socket.disconnect(); });
  document.addEventListener("DOMContentLoaded", () => {
    if (room.dataset.blocked === "yes" || room.dataset.cancelled === "yes") return;
    connect();
  });
})();
