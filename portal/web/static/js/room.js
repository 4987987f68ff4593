/* The class room: the teacher starts/ends the occurrence; a participant waits for the
 * teacher and is let in when the pushed `class:started` event arrives (Portal.live; REST
 * polling of GET /api/schedules/<id>/meeting only while the socket cannot connect). The join
 * itself is `class:join` over the socket, POST /api/schedules/<id>/join when it is down.
 *
 * The stage knows no meeting backend. A join target is either a new tab (redirect), or an
 * embed whose backend plugin ships its own room script: embed.room_script (loaded once,
 * with embed.room_styles) registers `Portal.rooms.register(embed.room_module, mount)` and
 * room.js calls `mount(container, ctx)` -> Promise<{unmount()}>, with ctx = {target,
 * embed, scheduleId, manager, live, say(text), fail(error)}; `unmount()` runs when the
 * class ends or the page goes away (docs/plugins.md). Embeds without a room script are
 * offered to other scripts through the cancelable `portal:embed` event, then shown as an
 * iframe of target.url. Panel modules listen for `portal:room-state` to follow the class. */
(function () {
  "use strict";
  const WAIT_POLL_MS = 3000;
  const RUNNING_POLL_MS = 15000;
  // The join goes over the live socket when it is up (no new HTTP request in a 09:00 rush);
  // an ack later than this, or a socket-level failure, falls back to POST .../join.
  const SOCKET_JOIN_MS = 4000;
  const SOCKET_TROUBLE = new Set(["offline", "timeout", "internal_error", "token_expired", "invalid_token", "not_authenticated"]);

  const mounts = new Map();
  window.Portal = window.Portal || {};
  window.Portal.rooms = {
    register(name, mount) {
      if (typeof mount !== "function") throw new TypeError(Portal.t("Portal.rooms.register(name, mount) needs a mount function"));
      mounts.set(String(name), mount);
    },
    get(name) { return mounts.get(String(name)); },
  };

  function loadOnce(tag, url) {
    const absolute = new URL(url, location.href).href;
    return new Promise((resolve, reject) => {
      const selector = tag === "script" ? "script[src]" : "link[rel=stylesheet]";
      const existing = [...document.querySelectorAll(selector)].find((n) => (n.src || n.href) === absolute);
      if (existing && existing.dataset.loaded) return resolve();
      const node = existing || (tag === "script" ? Portal.el("script", { src: absolute, async: true })
        : Portal.el("link", { rel: "stylesheet", href: absolute }));
      node.addEventListener("load", () => { node.dataset.loaded = "1"; resolve(); });
      node.addEventListener("error", () => reject(new Error(Portal.t("could not load the meeting software from %(url)s", { url: absolute }))));
      if (!existing) document.head.append(node);
    });
  }

  // Mount an embed through its backend plugin's room script (loaded once, with its styles):
  // the member room below and the guest's page (guest.js) share it. Answers the module's
  // {unmount()}, or null when the embed has no room script.
  async function mountScripted(container, target, ctx) {
    const embed = target.embed || {};
    if (!embed.room_script) return null;
    await Promise.all((embed.room_styles || []).map((href) => loadOnce("link", href)));
    await loadOnce("script", embed.room_script);
    const mount = mounts.get(String(embed.room_module));
    if (!mount) throw new Error(Portal.t("the meeting software did not load (no room module \"%(module)s\")", { module: embed.room_module }));
    return (await mount(container, Object.assign({ target, embed }, ctx))) || {};
  }
  window.Portal.rooms.mountTarget = mountScripted;

  const room = document.getElementById("room");
  if (!room) return;
  const sid = room.dataset.scheduleId;
  const manager = room.dataset.role === "manager";
  const opensAt = Date.parse(room.dataset.opensAt);
  const endsAt = Date.parse(room.dataset.endsAt);
  let state = room.dataset.state;
  let stopped = room.dataset.blocked === "yes" || room.dataset.cancelled === "yes";
  let joined = false;
  let joining = false;
  let timer = null;
  let polling = false;
  let mounted = null;

  const $ = (id) => document.getElementById(id);
  const status = (text) => { $("room-status").textContent = text; };
  const errorBox = $("room-error");

  function announce(next) {
    state = next;
    room.dataset.state = next;
    document.dispatchEvent(new CustomEvent("portal:room-state", { detail: { state: next, scheduleId: sid, manager } }));
  }

  async function unmountStage() {
    const current = mounted;
    mounted = null;
    if (current && typeof current.unmount === "function") {
      try { await current.unmount(); } catch (err) { console.error("the meeting's unmount failed", err); }
    }
    const container = $("embed");
    container.replaceChildren();
    container.className = "embed";
    container.hidden = true;
  }

  async function mountEmbed(target) {
    await unmountStage();
    const container = $("embed");
    container.hidden = false;
    $("stage-placeholder").hidden = true;
    const embed = target.embed || {};
    if (embed.room_script) {
      mounted = await mountScripted(container, target, {
        scheduleId: Number(sid), manager, live: window.Portal.live,
        say: (text) => { if (state !== "ended") status(text); },
        fail: (err) => fail(err),
      });
      return;
    }
    const detail = { container, target, scheduleId: sid, manager };
    if (embed.script) await loadOnce("script", embed.script);
    const event = new CustomEvent("portal:embed", { detail, cancelable: true });
    document.dispatchEvent(event);
    if (event.defaultPrevented) return;
    if ((embed.whep || embed.whip) && window.PortalWebRTC) { window.PortalWebRTC.mount(container, embed, manager); return; }
    if (target.url) {
      container.append(Portal.el("iframe", { src: target.url, title: Portal.t("Class meeting"), allow: "camera; microphone; display-capture; fullscreen; autoplay", allowfullscreen: true }));
      return;
    }
    throw new Error(Portal.t("this meeting system gave nothing to show"));
  }

  async function showTarget(target, gesture) {
    joined = true;
    Portal.hideError(errorBox);
    if (target.kind === "redirect" || target.new_tab) {
      const link = $("open-link");
      link.href = target.url;
      $("open-link-wrap").hidden = false;
      $("stage-placeholder").hidden = true;
      if (gesture) window.open(target.url, "_blank", "noopener");
      status(Portal.t("The class is running. It opens in its own tab; this page keeps the class panel."));
    } else {
      status(Portal.t("You are in the class."));
      await mountEmbed(target);
    }
    document.dispatchEvent(new CustomEvent("portal:joined", { detail: { target, scheduleId: sid } }));
  }

  async function showEnded() {
    const first = state !== "ended";
    announce("ended");
    stopped = true;
    joined = false;
    clearTimeout(timer);
    Portal.hideError(errorBox);
    await unmountStage();
    $("open-link-wrap").hidden = true;
    $("stage-placeholder").hidden = false;
    $("stage-placeholder").replaceChildren(Portal.el("p", { class: "ended-note", text: Portal.t("The class has ended. Thank you for taking part.") }));
    status(Portal.t("This class has ended."));
    if (manager) { $("start-btn").hidden = true; $("end-btn").hidden = true; $("rejoin-btn").hidden = true; }
    else { $("join-btn").hidden = true; }
    if (first) room.classList.add("ended");
  }

  function fail(err) {
    if (state === "ended") return; // after the end nothing is left to go wrong for the user
    Portal.showError(errorBox, err);
    if (err && err.code === "blocked") { stopped = true; clearTimeout(timer); status(""); }
  }

  // The join target: `class:join` over the socket (the same answer and error codes as the
  // REST join), else the REST join itself; the core's refusals are final either way.
  async function requestJoin() {
    const live = window.Portal.live;
    if (live && live.connected) {
      try { return await live.call("class:join", { schedule_id: Number(sid) }, SOCKET_JOIN_MS); }
      catch (err) { if (!SOCKET_TROUBLE.has(err.code)) throw err; }
    }
    return Portal.api("POST", "/api/schedules/" + sid + "/join");
  }

  async function join(gesture) {
    if (joining || joined || state === "ended") return;
    joining = true;
    try {
      const target = await requestJoin();
      $("join-btn").hidden = true;
      announce("running");
      await showTarget(target, gesture);
    } catch (err) {
      if (err.code === "not_started") { status(Portal.t("Waiting for the teacher to start the class…")); }
      else if (err.code === "waiting_room") { waitInLobby(); }
      else if (err.code === "class_ended") { showEnded(); }
      else { fail(err); $("join-btn").hidden = !!stopped; }
    } finally { joining = false; }
  }

  // The class has a waiting room: ask to enter, then wait for the pushed lobby:admitted
  // (or lobby:refused); asking again every few seconds covers a live connection that is down.
  let lobbyTimer = null;
  async function waitInLobby() {
    clearTimeout(lobbyTimer);
    try {
      const entry = await Portal.api("POST", "/api/schedules/" + sid + "/lobby/knock");
      if (entry.status === "admitted") { join(false); return; }
      if (entry.status === "refused") { refused(entry.message); return; }
      status(Portal.t("The class has a waiting room: the teacher will let you in shortly…"));
      lobbyTimer = setTimeout(waitInLobby, WAIT_POLL_MS * 2);
    } catch (err) { fail(err); }
  }

  function refused(message) {
    clearTimeout(lobbyTimer);
    stopped = true;
    status("");
    fail(Object.assign(new Error(message), { code: "refused" }));
    $("join-btn").hidden = true;
  }

  function showRunningForTeacher() {
    $("start-btn").hidden = true; $("end-btn").hidden = false; $("rejoin-btn").hidden = false;
  }

  // One reaction to the meeting's state, whoever reported it (push, join ack, fallback poll).
  function follow(meetingState) {
    if (stopped && meetingState !== "ended") return;
    if (meetingState === "ended") { if (state !== "ended") showEnded(); return; }
    if (meetingState === "running") {
      if (state !== "running") announce("running");
      if (manager) showRunningForTeacher();
      else if (!joined) { status(Portal.t("The teacher has started the class. Joining…")); join(false); }
    } else if (!manager) {
      status(meetingState === "starting" ? Portal.t("The class is starting…") : Portal.t("Waiting for the teacher to start the class…"));
    }
  }

  // REST fallback, only while the live connection is down.
  async function poll() {
    if (stopped || !polling) return;
    let delay = joined ? RUNNING_POLL_MS : WAIT_POLL_MS;
    try {
      if (!manager && Date.now() < opensAt) {
        delay = Math.min(WAIT_POLL_MS * 5, Math.max(1000, opensAt - Date.now()));
      } else {
        const meeting = await Portal.api("GET", "/api/schedules/" + sid + "/meeting");
        if (!polling) return;
        follow(meeting.state);
      }
    } catch (err) {
      if (err.status === 401 || err.status === 403 || err.status === 404) { fail(err); stopped = true; return; }
      delay = WAIT_POLL_MS * 3; // network hiccups: keep waiting, slower
    }
    if (Date.now() > endsAt + 2 * 3600 * 1000 && state !== "running") { status(Portal.t("This class occurrence is over.")); return; }
    if (!stopped && polling) timer = setTimeout(poll, delay);
  }

  function setPolling(on) {
    if (on === polling) return;
    polling = on;
    clearTimeout(timer);
    if (on) poll();
  }

  function wireTeacher() {
    const start = $("start-btn");
    const end = $("end-btn");
    const rejoin = $("rejoin-btn");
    async function startOrEnter(button, verb) {
      Portal.hideError(errorBox);
      status(verb);
      try {
        const result = await Portal.busy(button, () => Portal.api("POST", "/api/schedules/" + sid + "/start"));
        showRunningForTeacher();
        stopped = false;
        announce("running");
        await showTarget(result.join, true);
      } catch (err) { status(""); fail(err); }
    }
    start.addEventListener("click", () => startOrEnter(start, Portal.t("Starting the class…")));
    rejoin.addEventListener("click", () => startOrEnter(rejoin, Portal.t("Entering the meeting…")));
    end.addEventListener("click", async () => {
      if (!confirm(Portal.t("End the class for everyone?"))) return;
      try {
        await Portal.busy(end, () => Portal.api("POST", "/api/schedules/" + sid + "/end"));
        showEnded();
      } catch (err) {
        if (err.code === "not_running") showEnded(); else fail(err);
      }
    });
  }

  function followLive() {
    const live = window.Portal.live;
    if (!live) { setPolling(true); return; }
    live.on("class:started", (data) => { if (String(data.schedule_id) === sid) follow("running"); });
    live.on("class:ended", (data) => { if (String(data.schedule_id) === sid) follow("ended"); });
    live.on("live:joined", (ack) => { setPolling(false); if (ack.state) follow(ack.state); });
    live.on("lobby:admitted", (data) => {
      if (String(data.schedule_id) === sid && !manager) { clearTimeout(lobbyTimer); join(false); }
    });
    live.on("lobby:refused", (data) => {
      if (String(data.schedule_id) === sid && !manager) refused(data.message);
    });
    live.on("removed", (data) => { fail(Object.assign(new Error(data.message), { code: data.code })); });
    document.addEventListener("portal:live-status", (e) => setPolling(!!e.detail.fallback));
  }

  window.addEventListener("pagehide", () => { unmountStage(); });
  document.addEventListener("DOMContentLoaded", () => {
    if (manager) wireTeacher();
    else $("join-btn").addEventListener("click", () => join(true));
    announce(state);
    if (stopped) return;
    if (state === "ended") { showEnded(); return; }
    followLive();
    if (!manager && state === "running") join(false);
  });
})();
