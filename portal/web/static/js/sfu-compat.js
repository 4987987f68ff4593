/* TEMPORARY (issue 16): the bundled SFU's join target does not carry room_script /
 * room_module yet, so its room is built here from the `portal:embed` event, as room.js
 * used to. The SFU plugin's own room script (Portal.rooms.register("native_sfu", mount))
 * replaces this file; delete it and its <script> tag in room/room.html then. */
(function () {
  "use strict";

  function loadScript(src) {
    return new Promise(function (resolve, reject) {
      var absolute = new URL(src, location.href).href;
      var existing = Array.prototype.find.call(document.scripts, function (s) { return s.src === absolute; });
      if (existing) return resolve();
      var script = Portal.el("script", { src: absolute, async: true });
      script.addEventListener("load", function () { resolve(); });
      script.addEventListener("error", function () { reject(new Error("could not load the meeting software from " + absolute)); });
      document.head.append(script);
    });
  }

  document.addEventListener("portal:embed", function (event) {
    var embed = event.detail.target.embed || {};
    if (!(embed.client_js && embed.whip_url)) return;
    event.preventDefault();
    var container = event.detail.container;
    var controls = embed.can_publish ? [
      Portal.el("button", { type: "button", dataset: { action: "camera" } }, "Start camera"),
      Portal.el("button", { type: "button", dataset: { action: "screen" } }, "Share screen"),
      Portal.el("button", { type: "button", dataset: { action: "mute" }, disabled: true, "aria-pressed": "false" }, "Mute"),
      Portal.el("button", { type: "button", dataset: { action: "video" }, disabled: true, "aria-pressed": "false" }, "Camera off"),
    ] : [];
    container.classList.add("sfu-embed");
    container.append(Portal.el("section", { class: "sfu-room", id: "sfu-room", dataset: {
      room: embed.room, whipUrl: embed.whip_url, whepUrl: embed.whep_url, publishersUrl: embed.publishers_url,
      token: embed.token, iceServers: JSON.stringify(embed.ice_servers || []), canPublish: embed.can_publish ? "true" : "false",
    } },
      Portal.el("div", { class: "sfu-controls", role: "toolbar", "aria-label": "Call controls" }, controls,
        Portal.el("span", { class: "sfu-status", role: "status", "aria-live": "polite" })),
      Portal.el("div", { class: "sfu-local", hidden: true }, Portal.el("video", { muted: true, autoplay: true, playsinline: true, "aria-label": "Your camera" })),
      Portal.el("div", { class: "sfu-remote", "aria-label": "Streams in this class" })));
    loadScript(embed.client_js)
      .then(function () { return loadScript(embed.room_js || embed.client_js.replace(/sfu-client\.js(\?.*)?$/, "sfu-room.js$1")); })
      .catch(function (err) { Portal.showError(document.getElementById("room-error"), err); });
  });
})();
