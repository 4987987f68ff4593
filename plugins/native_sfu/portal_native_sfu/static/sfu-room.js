/* The minimal room page: publish camera/screen, watch every other stream, mute toggles. */
(function () {
  "use strict";
  var root = document.getElementById("sfu-room");
  if (!root) return;
  var client = PortalSfu.fromElement(root);
  var status = root.querySelector(".sfu-status");
  var remoteBox = root.querySelector(".sfu-remote");
  var localVideo = root.querySelector(".sfu-local video");
  var mine = {};      // label -> Session (camera, screen)
  var watching = {};  // publisher id -> {session, box}
  var sessionIds = new Set();

  function say(text) { status.textContent = text; }
  function button(action) { return root.querySelector('[data-action="' + action + '"]'); }

  async function startCamera() {
    if (mine.camera) { await mine.camera.stop(); delete mine.camera; localVideo.parentNode.hidden = true;
      button("camera").textContent = "Start camera"; button("mute").disabled = true; button("video").disabled = true; return; }
    var stream = await navigator.mediaDevices.getUserMedia({audio: true, video: {width: 640, height: 360}});
    mine.camera = await client.publish(stream, {label: "camera"});
    sessionIds.add(mine.camera.location.split("/").pop());
    localVideo.srcObject = stream; localVideo.parentNode.hidden = false;
    button("camera").textContent = "Stop camera"; button("mute").disabled = false; button("video").disabled = false;
    say("You are live");
  }

  async function shareScreen() {
    if (mine.screen) { await mine.screen.stop(); delete mine.screen; button("screen").textContent = "Share screen"; return; }
    var stream = await navigator.mediaDevices.getDisplayMedia({video: true, audio: false});
    mine.screen = await client.publish(stream, {label: "screen"});
    sessionIds.add(mine.screen.location.split("/").pop());
    stream.getVideoTracks()[0].addEventListener("ended", function () { if (mine.screen) shareScreen(); });
    button("screen").textContent = "Stop sharing";
  }

  function toggle(action, setter) {
    var b = button(action);
    var off = b.getAttribute("aria-pressed") !== "true";
    mine.camera && mine.camera[setter](!off);
    b.setAttribute("aria-pressed", off ? "true" : "false");
    b.textContent = action === "mute" ? (off ? "Unmute" : "Mute") : (off ? "Camera on" : "Camera off");
  }

  async function refresh() {
    var list;
    try { list = await client.publishers(); } catch (e) { say(e.message); return; }
    var live = new Set();
    for (var i = 0; i < list.length; i++) {
      var p = list[i];
      live.add(p.id);
      if (watching[p.id] || sessionIds.has(p.id)) continue;
      var box = document.createElement("figure");
      var video = document.createElement("video");
      video.autoplay = true; video.playsInline = true; video.muted = true; video.dataset.publisher = p.id;
      var caption = document.createElement("figcaption");
      caption.textContent = p.name + " (" + p.label + ")";
      box.appendChild(video); box.appendChild(caption); remoteBox.appendChild(box);
      watching[p.id] = {box: box, session: null};
      try { watching[p.id].session = await client.watch(p.id, video); }
      catch (e) { box.remove(); delete watching[p.id]; say(e.message); }
    }
    Object.keys(watching).forEach(function (id) {
      if (!live.has(id)) { var w = watching[id]; w.session && w.session.pc.close(); w.box.remove(); delete watching[id]; }
    });
  }

  root.addEventListener("click", function (event) {
    var action = event.target.dataset && event.target.dataset.action;
    var run = {camera: startCamera, screen: shareScreen,
      mute: function () { toggle("mute", "setAudioEnabled"); },
      video: function () { toggle("video", "setVideoEnabled"); }}[action];
    if (run) Promise.resolve(run()).catch(function (e) { say(e.message); });
  });
  window.addEventListener("pagehide", function () {
    Object.keys(mine).forEach(function (k) { mine[k].stop(); });
  });
  refresh(); setInterval(refresh, 3000);
  window.portalSfuRoom = {client: client, mine: mine, watching: watching, startCamera: startCamera};
})();
