/* The bundled SFU's room: watch (and hear) every stream of the class, publish what the
 * floor allows.
 *
 * The core room page loads this script (the JoinTarget's embed.room_script) and calls the
 * mount function registered under "native_sfu":  mount(container, ctx) -> {unmount()}
 * with ctx = {embed, target, scheduleId, manager, live, say, fail}. The plugin's own page
 * (/sfu/rooms/<room>) mounts the same way from an element with data-sfu-embed.
 *
 * Sound: every remote stream plays through its tile's <video>, unmuted. When the browser
 * refuses to autoplay sound, the tiles play muted and ONE "Click to hear the class"
 * button unmutes them all. Each tile has its own mute button and volume slider, and a
 * speaking indicator fed by a WebAudio analyser on its audio. The local preview is muted.
 *
 * The floor: the teacher publishes anything; a student publishes only what the teacher
 * granted (microphone, camera, screen), starts when it is granted and stops when it is
 * withdrawn. The SFU enforces the same on its side (403, closed streams, muted audio).
 */
(function () {
  "use strict";
  var POLL_MS = 3000;
  var LEVEL_MS = 150;
  var SPEAKING_LEVEL = 0.015;
  var ALL = {mic: true, camera: true, screen: true, mic_muted: false};
  var NONE = {mic: false, camera: false, screen: false, mic_muted: false};

  function el(tag, attrs) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      var value = attrs[key];
      if (key === "text") node.textContent = value;
      else if (key === "class") node.className = value;
      else if (key === "dataset") Object.keys(value).forEach(function (k) { node.dataset[k] = value[k]; });
      else if (typeof value === "boolean") { node[key] = value; if (value && key !== "muted") node.setAttribute(key, ""); }
      else node.setAttribute(key, value);
    });
    for (var i = 2; i < arguments.length; i++) if (arguments[i]) node.appendChild(arguments[i]);
    return node;
  }

  function loadScript(src) {
    return new Promise(function (resolve, reject) {
      var script = el("script", {src: src});
      script.addEventListener("load", resolve);
      script.addEventListener("error", function () { reject(new Error(Portal.t("could not load %(url)s", { url: src }))); });
      document.head.appendChild(script);
    });
  }

  function buildRoom(container, title) {
    function button(action, text) {
      return el("button", {type: "button", dataset: {action: action}, hidden: true, text: text});
    }
    var root = el("section", {class: "sfu-room", id: "sfu-room"},
      title ? el("h1", {text: title}) : null,
      el("div", {class: "sfu-controls", role: "toolbar", "aria-label": Portal.t("Call controls")},
        button("camera", Portal.t("Start camera")), button("screen", Portal.t("Share screen")),
        button("mute", Portal.t("Mute")), button("video", Portal.t("Camera off")),
        el("button", {type: "button", class: "sfu-hear", dataset: {action: "hear"}, hidden: true,
                      text: Portal.t("Click to hear the class")}),
        el("span", {class: "sfu-status", role: "status", "aria-live": "polite"})),
      el("p", {class: "sfu-floor-note", role: "status", "aria-live": "polite", hidden: true}),
      el("div", {class: "sfu-local", hidden: true},
        el("video", {muted: true, autoplay: true, playsinline: true, "aria-label": Portal.t("Your camera")})),
      el("div", {class: "sfu-remote", "aria-label": Portal.t("Streams in this class")}));
    container.classList.add("sfu-embed");
    container.appendChild(root);
    return root;
  }

  function Room(root, embed, ctx) {
    this.root = root; this.embed = embed; this.ctx = ctx || {};
    this.client = new window.PortalSfu({whipUrl: embed.whip_url, whepUrl: embed.whep_url,
      publishersUrl: embed.publishers_url, token: embed.token, iceServers: embed.ice_servers || []});
    this.manager = !!embed.manager;
    this.floor = this.manager ? ALL : (embed.floor || (embed.can_publish ? ALL : NONE));
    this.mine = {};           // label -> Session (camera, screen)
    this.watching = {};       // publisher id -> tile
    this.sessionIds = new Set();
    this.soundBlocked = false;
    this.audio = null;        // one AudioContext for every speaking indicator
    this.stopped = false;
    this.work = Promise.resolve();  // floor changes apply one after the other
    this.localVideo = root.querySelector(".sfu-local video");
    this.remoteBox = root.querySelector(".sfu-remote");
    this.status = root.querySelector(".sfu-status");
    this.note = root.querySelector(".sfu-floor-note");
  }

  Room.prototype.say = function (text) { this.status.textContent = text; };
  Room.prototype.button = function (action) { return this.root.querySelector('[data-action="' + action + '"]'); };

  // --- sound -----------------------------------------------------------------------

  Room.prototype.audioContext = function () {
    if (!this.audio) {
      var Ctx = window.AudioContext || window.webkitAudioContext;
      if (!Ctx) return null;
      this.audio = new Ctx();
    }
    return this.audio;
  };

  Room.prototype.play = function (tile) {
    var self = this;
    tile.video.muted = self.soundBlocked || tile.userMuted;
    var started = tile.video.play();
    if (!started || !started.catch) return;
    started.catch(function (err) {
      if (!err || err.name !== "NotAllowedError" || self.stopped) return;
      // No sound without a gesture: play the picture muted, offer the one unlock button.
      self.blockSound();
      tile.video.muted = true;
      tile.video.play().catch(function () {});
    });
  };

  Room.prototype.blockSound = function () {
    if (this.soundBlocked) return;
    this.soundBlocked = true;
    this.button("hear").hidden = false;
    this.refreshTiles();
  };

  Room.prototype.unblockSound = function () {
    var self = this;
    self.soundBlocked = false;
    self.button("hear").hidden = true;
    if (self.audio && self.audio.state === "suspended") self.audio.resume().catch(function () {});
    Object.keys(self.watching).forEach(function (id) { self.play(self.watching[id]); });
    self.refreshTiles();
  };

  Room.prototype.refreshTiles = function () {
    var self = this;
    Object.keys(self.watching).forEach(function (id) {
      var tile = self.watching[id];
      var silent = tile.userMuted || self.soundBlocked;
      tile.muteButton.textContent = tile.userMuted ? Portal.t("Unmute") : Portal.t("Mute");
      tile.muteButton.setAttribute("aria-pressed", tile.userMuted ? "true" : "false");
      tile.box.classList.toggle("sfu-silent", silent);
    });
  };

  Room.prototype.listen = function (tile, track) {
    // The speaking indicator: RMS level of the stream's audio, a few times a second.
    var ctx = this.audioContext();
    if (!ctx || tile.analyser) return;
    try {
      var source = ctx.createMediaStreamSource(new MediaStream([track]));
      var analyser = ctx.createAnalyser();
      analyser.fftSize = 512;
      source.connect(analyser);
      tile.analyser = analyser; tile.source = source;
    } catch (e) { return; }
    var samples = new Float32Array(tile.analyser.fftSize);
    tile.levelTimer = setInterval(function () {
      tile.analyser.getFloatTimeDomainData(samples);
      var sum = 0;
      for (var i = 0; i < samples.length; i++) sum += samples[i] * samples[i];
      var level = Math.sqrt(sum / samples.length);
      tile.level = level;
      tile.peak = Math.max(tile.peak || 0, level);
      tile.box.dataset.level = level.toFixed(4);
      tile.box.dataset.peak = tile.peak.toFixed(4);
      var speaking = level > SPEAKING_LEVEL;
      if (speaking !== tile.speaking) {
        tile.speaking = speaking;
        tile.box.classList.toggle("speaking", speaking);
        tile.indicator.hidden = !speaking;
      }
    }, LEVEL_MS);
  };

  // --- watching ----------------------------------------------------------------------

  Room.prototype.addTile = function (p) {
    var self = this;
    var video = el("video", {autoplay: true, playsinline: true, dataset: {publisher: p.id}});
    var label = p.name + " (" + p.label + ")";
    var tile = {id: p.id, userMuted: false, speaking: false, video: video,
      indicator: el("span", {class: "sfu-speaking", text: "speaking", hidden: true}),
      muteButton: el("button", {type: "button", class: "sfu-tile-mute", "aria-pressed": "false",
                                "aria-label": Portal.t("Mute %(name)s", { name: label }), text: Portal.t("Mute")}),
      volume: el("input", {type: "range", class: "sfu-tile-volume", min: "0", max: "1", step: "0.05",
                           value: "1", "aria-label": Portal.t("Volume of %(name)s", { name: label })})};
    tile.box = el("figure", {class: "sfu-tile", dataset: {publisher: p.id, userId: String(p.user_id), label: p.label}},
      video, el("figcaption", {}, el("span", {text: label}), tile.indicator),
      el("div", {class: "sfu-tile-controls"}, tile.muteButton, tile.volume));
    tile.muteButton.addEventListener("click", function () {
      tile.userMuted = !tile.userMuted;
      if (!tile.userMuted && self.soundBlocked) { self.unblockSound(); return; }
      video.muted = tile.userMuted || self.soundBlocked;
      self.refreshTiles();
    });
    tile.volume.addEventListener("input", function () { video.volume = Number(tile.volume.value); });
    self.remoteBox.appendChild(tile.box);
    self.watching[p.id] = tile;
    self.refreshTiles();
    return tile;
  };

  Room.prototype.removeTile = function (id) {
    var tile = this.watching[id];
    if (!tile) return;
    delete this.watching[id];
    clearInterval(tile.levelTimer);
    if (tile.source) try { tile.source.disconnect(); } catch (e) { /* already gone */ }
    if (tile.session) tile.session.pc.close();
    tile.video.srcObject = null;
    tile.box.remove();
  };

  Room.prototype.watch = async function (p) {
    var self = this;
    var tile = self.addTile(p);
    var playing = false;
    try {
      tile.session = await self.client.watch(p.id, tile.video, function (track) {
        if (track.kind === "audio") self.listen(tile, track);
        if (!playing) { playing = true; self.play(tile); }
      });
    } catch (e) {
      self.removeTile(p.id);
      self.say(e.message);
    }
  };

  Room.prototype.refresh = async function () {
    var self = this;
    var answer;
    try {
      var response = await fetch(self.embed.publishers_url, {headers: self.client.headers()});
      if (response.status === 409) { self.say(Portal.t("The class has ended.")); return; }
      if (!response.ok) throw new Error(Portal.t("cannot list the streams of this class (%(status)s)", { status: response.status }));
      answer = await response.json();
    } catch (e) { self.say(e.message); return; }
    if (self.stopped) return;
    if (answer.floor && !self.manager) self.applyFloor(answer.floor);
    var live = new Set();
    for (var i = 0; i < answer.publishers.length; i++) {
      var p = answer.publishers[i];
      live.add(p.id);
      if (self.watching[p.id] || self.sessionIds.has(p.id)) continue;
      await self.watch(p);
    }
    Object.keys(self.watching).forEach(function (id) { if (!live.has(id)) self.removeTile(id); });
  };

  // --- publishing ----------------------------------------------------------------------

  Room.prototype.cameraKinds = function () {
    return {audio: !!this.floor.mic, video: !!this.floor.camera};
  };

  Room.prototype.startCamera = async function () {
    var self = this;
    var want = self.cameraKinds();
    if (!want.audio && !want.video) throw new Error(Portal.t("The teacher has not given you the floor."));
    var stream = await navigator.mediaDevices.getUserMedia({audio: want.audio,
      video: want.video ? {width: 640, height: 360} : false});
    if (self.stopped) { stream.getTracks().forEach(function (t) { t.stop(); }); return; }
    try {
      self.mine.camera = await self.client.publish(stream, {label: "camera"});
    } catch (e) {
      stream.getTracks().forEach(function (t) { t.stop(); });
      throw e;
    }
    self.sessionIds.add(self.mine.camera.location.split("/").pop());
    if (self.floor.mic_muted) self.mine.camera.setAudioEnabled(false);
    self.localVideo.srcObject = stream;
    self.localVideo.parentNode.hidden = !want.video;
    self.showControls();
    self.say(Portal.t("You are live"));
  };

  Room.prototype.stopCamera = async function () {
    var session = this.mine.camera;
    if (!session) return;
    delete this.mine.camera;
    session.stream.getTracks().forEach(function (t) { t.stop(); });
    this.localVideo.srcObject = null;
    this.localVideo.parentNode.hidden = true;
    if (!this.mine.screen) this.say("");
    this.showControls();
    await session.stop().catch(function () {});
  };

  Room.prototype.shareScreen = async function () {
    var self = this;
    // The shared tab's sound goes with it where the browser offers it.
    var stream = await navigator.mediaDevices.getDisplayMedia({video: true, audio: true});
    self.mine.screen = await self.client.publish(stream, {label: "screen"});
    self.sessionIds.add(self.mine.screen.location.split("/").pop());
    stream.getVideoTracks()[0].addEventListener("ended", function () { self.stopScreen(); });
    self.showControls();
  };

  Room.prototype.stopScreen = async function () {
    var session = this.mine.screen;
    if (!session) return;
    delete this.mine.screen;
    session.stream.getTracks().forEach(function (t) { t.stop(); });
    this.showControls();
    await session.stop().catch(function () {});
  };

  Room.prototype.showControls = function () {
    var f = this.floor;
    var camera = this.button("camera"), screen = this.button("screen");
    var mute = this.button("mute"), video = this.button("video");
    var live = this.mine.camera;
    camera.hidden = !(f.mic || f.camera);
    camera.textContent = live ? (f.camera ? Portal.t("Stop camera") : Portal.t("Stop microphone")) : (f.camera ? Portal.t("Start camera") : Portal.t("Start microphone"));
    screen.hidden = !f.screen;
    screen.textContent = this.mine.screen ? Portal.t("Stop sharing") : Portal.t("Share screen");
    mute.hidden = !f.mic;
    mute.disabled = !live || !!f.mic_muted;
    var muted = !!f.mic_muted || (live && live.stream.getAudioTracks().some(function (t) { return !t.enabled; }));
    mute.setAttribute("aria-pressed", muted ? "true" : "false");
    mute.textContent = muted ? Portal.t("Unmute") : Portal.t("Mute");
    video.hidden = !f.camera;
    video.disabled = !live;
  };

  Room.prototype.toggleTrack = function (action) {
    var session = this.mine.camera;
    if (!session) return;
    var tracks = action === "mute" ? session.stream.getAudioTracks() : session.stream.getVideoTracks();
    var on = !tracks.some(function (t) { return t.enabled; });
    if (action === "mute") session.setAudioEnabled(on); else session.setVideoEnabled(on);
    if (action === "video") {
      var b = this.button("video");
      b.setAttribute("aria-pressed", on ? "false" : "true");
      b.textContent = on ? Portal.t("Camera off") : Portal.t("Camera on");
    }
    this.showControls();
  };

  Room.prototype.applyFloor = function (next) {
    var self = this;
    var prev = self.floor;
    var same = ["mic", "camera", "screen", "mic_muted"].every(function (k) { return !!prev[k] === !!next[k]; });
    if (same || self.manager) return;
    self.floor = {mic: !!next.mic, camera: !!next.camera, screen: !!next.screen, mic_muted: !!next.mic_muted};
    var gained = (next.mic && !prev.mic) || (next.camera && !prev.camera);
    self.work = self.work.then(function () { return self.reconcile(prev, gained); })
      .catch(function (e) { self.say(e.message); });
  };

  Room.prototype.reconcile = async function (prev, gained) {
    // Stop what is no longer granted (the SFU has closed it already), start what was just
    // granted, and follow the teacher's mute.
    var f = this.floor;
    var session = this.mine.camera;
    if (session) {
      var kinds = session.kinds();
      var mismatch = (kinds.indexOf("audio") >= 0) !== !!f.mic || (kinds.indexOf("video") >= 0) !== !!f.camera;
      if (mismatch) { await this.stopCamera(); if (!gained && (f.mic || f.camera)) gained = true; }
    }
    if (this.mine.screen && !f.screen) await this.stopScreen();
    if (!this.mine.camera && gained && (f.mic || f.camera)) await this.startCamera();
    if (this.mine.camera) this.mine.camera.setAudioEnabled(!f.mic_muted);
    var note = [];
    if (f.mic_muted) note.push(Portal.t("The teacher muted your microphone."));
    if (!f.mic && !f.camera && !f.screen && (prev.mic || prev.camera || prev.screen)) note.push(Portal.t("The teacher took back the floor."));
    else if (f.mic || f.camera || f.screen) {
      var what = [f.mic && "microphone", f.camera && "camera", f.screen && "screen"].filter(Boolean).join(", ");
      note.push(Portal.t("You have the floor: %(what)s.", { what }));
    }
    this.note.textContent = note.join(" ");
    this.note.hidden = note.length === 0;
    if (!this.mine.camera && !this.mine.screen) this.say(f.mic || f.camera || f.screen ? "" : Portal.t("You are watching the class."));
    this.showControls();
  };

  // --- life --------------------------------------------------------------------------

  Room.prototype.start = function () {
    var self = this;
    self.onClick = function (event) {
      var action = event.target.dataset && event.target.dataset.action;
      var run = {
        camera: function () { return self.mine.camera ? self.stopCamera() : self.startCamera(); },
        screen: function () { return self.mine.screen ? self.stopScreen() : self.shareScreen(); },
        mute: function () { self.toggleTrack("mute"); },
        video: function () { self.toggleTrack("video"); },
        hear: function () { self.unblockSound(); },
      }[action];
      if (run) Promise.resolve().then(run).catch(function (e) { self.say(e.message); });
    };
    self.root.addEventListener("click", self.onClick);
    self.onPageHide = function () { self.unmount(); };
    window.addEventListener("pagehide", self.onPageHide);
    var live = self.ctx.live;
    if (live && typeof live.on === "function" && !self.manager) {
      ["floor:granted", "floor:withdrawn", "floor:muted"].forEach(function (name) {
        live.on(name, function (payload) {
          if (!self.stopped && payload && payload.user && payload.user.id === self.embed.user_id) self.applyFloor(payload);
        });
      });
    }
    self.showControls();
    if (!self.manager) self.reconcile(NONE, !!(self.floor.mic || self.floor.camera)).catch(function (e) { self.say(e.message); });
    var tick = function () {
      if (self.stopped) return;
      self.refresh().finally(function () { if (!self.stopped) self.timer = setTimeout(tick, POLL_MS); });
    };
    tick();
    return self;
  };

  Room.prototype.unmount = async function () {
    var self = this;
    if (self.stopped) return;
    self.stopped = true;
    clearTimeout(self.timer);
    self.root.removeEventListener("click", self.onClick);
    window.removeEventListener("pagehide", self.onPageHide);
    Object.keys(self.watching).forEach(function (id) { self.removeTile(id); });
    await Promise.all([self.stopCamera(), self.stopScreen()]);
    if (self.audio) self.audio.close().catch(function () {});
  };

  async function mount(container, ctx) {
    var embed = (ctx && ctx.embed) || (ctx && ctx.target && ctx.target.embed) || {};
    if (!window.PortalSfu) await loadScript(embed.client_js);
    var root = buildRoom(container, ctx && ctx.title);
    var room = new Room(root, embed, ctx).start();
    window.portalSfuRoom = room;
    return {unmount: function () { return room.unmount(); }};
  }

  window.PortalSfuRoom = {mount: mount};
  if (window.Portal && window.Portal.rooms && typeof window.Portal.rooms.register === "function") {
    window.Portal.rooms.register("native_sfu", mount);
  }
  // The plugin's own room page carries its embed in data-sfu-embed.
  var own = document.querySelector("[data-sfu-embed]");
  if (own) mount(own, {embed: JSON.parse(own.dataset.sfuEmbed), title: own.dataset.title});
})();
