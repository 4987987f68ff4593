/* The class room: the teacher starts/ends the occurrence; a participant waits for the
 * teacher (polling GET /api/schedules/<id>/meeting) and is let in automatically.
 * The join target decides the stage: a new tab (redirect, e.g. BigBlueButton), the Jitsi
 * IFrame API, a plugin's player (the `portal:embed` event, e.g. the bundled SFU), or an
 * iframe. Panel modules listen for `portal:room-state` to follow the class. */
(function () {
  "use strict";
  const WAIT_POLL_MS = 3000;
  const RUNNING_POLL_MS = 15000;

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

  const $ = (id) => document.getElementById(id);
  const status = (text) => { $("room-status").textContent = text; };
  const errorBox = $("room-error");

  function announce(next) {
    state = next;
    room.dataset.state = next;
    document.dispatchEvent(new CustomEvent("portal:room-state", { detail: { state: next, scheduleId: sid, manager } }));
  }

  function loadScript(src) {
    return new Promise((resolve, reject) => {
      const existing = [...document.scripts].find((s) => s.src === src);
      if (existing && existing.dataset.loaded) return resolve();
      const script = Portal.el("script", { src: src, async: true });
      script.addEventListener("load", () => { script.dataset.loaded = "1"; resolve(); });
      script.addEventListener("error", () => reject(new Error("could not load the meeting software from " + src)));
      document.head.append(script);
    });
  }

  async function mountJitsi(container, target) {
    // The Jitsi plugin's embed: {external_api_url, domain, roomName, jwt, configOverwrite,
    // interfaceConfigOverwrite, userInfo}. Its origin is in the CSP thanks to the plugin.
    const embed = target.embed;
    await loadScript(embed.external_api_url || embed.external_api);
    if (typeof window.JitsiMeetExternalAPI !== "function") throw new Error("the Jitsi meeting software did not load");
    const domain = embed.domain || new URL(target.url).host;
    const api = new window.JitsiMeetExternalAPI(domain, {
      roomName: embed.roomName || embed.room, jwt: embed.jwt, parentNode: container,
      width: "100%", height: "100%", userInfo: embed.userInfo || undefined,
      configOverwrite: embed.configOverwrite || {}, interfaceConfigOverwrite: embed.interfaceConfigOverwrite || {},
    });
    api.addEventListener("readyToClose", () => { container.replaceChildren(); container.hidden = true; });
    return api;
  }

  async function mountSfu(container, target) {
    // The bundled SFU ships its own room script (embed.room_script) that builds the room.
    const embed = target.embed;
    await loadScript(embed.client_js);
    await loadScript(embed.room_script);
    return window.PortalSfuRoom.mount(container, { target, embed, scheduleId: sid, manager, live: window.Portal.live,
      say: status, fail });
  }

  async function mountEmbed(target) {
    const container = $("embed");
    container.hidden = false;
    container.replaceChildren();
    $("stage-placeholder").hidden = true;
    const embed = target.embed || {};
    const detail = { container, target, scheduleId: sid, manager };
    if (embed.external_api_url || embed.external_api) return mountJitsi(container, target);
    if (embed.room_module === "native_sfu") return mountSfu(container, target);
    if (embed.script) await loadScript(new URL(embed.script, location.href).href);
    // Any other plugin's browser code may take over: it calls preventDefault().
    const event = new CustomEvent("portal:embed", { detail, cancelable: true });
    document.dispatchEvent(event);
    if (event.defaultPrevented) return null;
    if ((embed.whep || embed.whip) && window.PortalWebRTC) return window.PortalWebRTC.mount(container, embed, manager);
    if (target.url) {
      container.append(Portal.el("iframe", { src: target.url, title: "Class meeting", allow: "camera; microphone; display-capture; fullscreen; autoplay", allowfullscreen: true }));
      return null;
    }
    throw new Error("this meeting system gave nothing to show");
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
      status("The class is running. It opens in its own tab; this page keeps the class panel.");
    } else {
      await mountEmbed(target);
      status("You are in the class.");
    }
    document.dispatchEvent(new CustomEvent("portal:joined", { detail: { target, scheduleId: sid } }));
  }

  function showEnded() {
    announce("ended");
    stopped = true;
    clearTimeout(timer);
    $("embed").replaceChildren();
    $("embed").hidden = true;
    $("open-link-wrap").hidden = true;
    $("stage-placeholder").hidden = false;
    status("This class has ended.");
    if (manager) { $("start-btn").hidden = false; $("end-btn").hidden = true; $("rejoin-btn").hidden = true; }
    else { $("join-btn").hidden = true; }
  }

  function fail(err) {
    Portal.showError(errorBox, err);
    if (err && err.code === "blocked") { stopped = true; clearTimeout(timer); status(""); }
  }

  async function join(gesture) {
    if (joining) return;
    joining = true;
    try {
      const target = await Portal.api("POST", "/api/schedules/" + sid + "/join");
      $("join-btn").hidden = true;
      announce("running");
      await showTarget(target, gesture);
    } catch (err) {
      if (err.code === "not_started") { status("Waiting for the teacher to start the class…"); }
      else if (err.code === "class_ended") { showEnded(); }
      else { fail(err); $("join-btn").hidden = !!stopped; }
    } finally { joining = false; }
  }

  async function poll() {
    if (stopped) return;
    let delay = joined ? RUNNING_POLL_MS : WAIT_POLL_MS;
    try {
      if (!manager && Date.now() < opensAt) {
        delay = Math.min(WAIT_POLL_MS * 5, Math.max(1000, opensAt - Date.now()));
      } else {
        const meeting = await Portal.api("GET", "/api/schedules/" + sid + "/meeting");
        if (meeting.state === "ended") {
          if (state !== "ended") showEnded();
          return;
        }
        if (meeting.state === "running") {
          if (state !== "running") announce("running");
          if (manager) {
            $("start-btn").hidden = true; $("end-btn").hidden = false; $("rejoin-btn").hidden = false;
          } else if (!joined) {
            status("The teacher has started the class. Joining…");
            await join(false);
          }
        } else if (!manager) {
          status(meeting.state === "starting" ? "The class is starting…" : "Waiting for the teacher to start the class…");
        }
      }
    } catch (err) {
      if (err.status === 401 || err.status === 403 || err.status === 404) { fail(err); stopped = true; return; }
      // Network hiccups: keep waiting, slower.
      delay = WAIT_POLL_MS * 3;
    }
    if (Date.now() > endsAt + 2 * 3600 * 1000 && state !== "running") { status("This class occurrence is over."); return; }
    if (!stopped) timer = setTimeout(poll, delay);
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
        start.hidden = true; end.hidden = false; rejoin.hidden = false;
        stopped = false;
        announce("running");
        await showTarget(result.join, true);
        clearTimeout(timer);
        timer = setTimeout(poll, RUNNING_POLL_MS);
      } catch (err) { status(""); fail(err); }
    }
    start.addEventListener("click", () => startOrEnter(start, "Starting the class…"));
    rejoin.addEventListener("click", () => startOrEnter(rejoin, "Entering the meeting…"));
    end.addEventListener("click", async () => {
      if (!confirm("End the class for everyone?")) return;
      try {
        await Portal.busy(end, () => Portal.api("POST", "/api/schedules/" + sid + "/end"));
        showEnded();
        Portal.flash("The class has ended.");
      } catch (err) { fail(err); }
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    if (manager) wireTeacher();
    else $("join-btn").addEventListener("click", () => join(true));
    announce(state);
    if (stopped) return;
    if (state === "ended") { showEnded(); return; }
    if (!manager && state === "running") { join(false); timer = setTimeout(poll, RUNNING_POLL_MS); return; }
    poll();
  });
})();
