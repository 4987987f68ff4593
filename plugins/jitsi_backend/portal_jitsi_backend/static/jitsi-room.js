/* The Jitsi plugin's room script: mounts the Jitsi IFrame API in the portal's class room.
 * The join target's embed: {external_api_url, domain, roomName, jwt, configOverwrite,
 * interfaceConfigOverwrite, userInfo, moderator, lobby, viewer_only, room_script,
 * room_module: "jitsi"}; `lobby` (the teacher's, when Jitsi's lobby is the class's waiting
 * room) makes this script turn the room's lobby on once the teacher is in. The IFrame API
 * script's origin is in the page's CSP thanks to the plugin (embedding.py). */
(function () {
  "use strict";

  function loadScript(src) {
    return new Promise(function (resolve, reject) {
      var absolute = new URL(src, location.href).href;
      if (typeof window.JitsiMeetExternalAPI === "function") return resolve();
      var script = document.createElement("script");
      script.src = absolute;
      script.async = true;
      script.addEventListener("load", function () { resolve(); });
      script.addEventListener("error", function () { reject(new Error(Portal.t("could not load the Jitsi meeting software from %(url)s", { url: absolute }))); });
      document.head.appendChild(script);
    });
  }

  async function mount(container, ctx) {
    var embed = ctx.embed;
    await loadScript(embed.external_api_url || embed.external_api);
    if (typeof window.JitsiMeetExternalAPI !== "function") throw new Error(Portal.t("the Jitsi meeting software did not load"));
    var api = new window.JitsiMeetExternalAPI(embed.domain || new URL(ctx.target.url).host, {
      roomName: embed.roomName || embed.room, jwt: embed.jwt, parentNode: container,
      noSSL: Boolean(embed.noSSL),  // a web URL on plain http (a school lab, a test bed)
      width: "100%", height: "100%", userInfo: embed.userInfo || undefined,
      configOverwrite: embed.configOverwrite || {}, interfaceConfigOverwrite: embed.interfaceConfigOverwrite || {},
    });
    api.addEventListener("videoConferenceJoined", function () {
      // Only a moderator may turn the lobby on, and only once in the room: students and
      // guests who come later knock and the teacher admits them in Jitsi.
      if (embed.lobby) api.executeCommand("toggleLobby", true);
      // A "viewer only" guest stays muted with the camera off, whatever the client remembered.
      if (embed.viewer_only) {
        api.isAudioMuted().then(function (muted) { if (!muted) api.executeCommand("toggleAudio"); });
        api.isVideoMuted().then(function (muted) { if (!muted) api.executeCommand("toggleVideo"); });
      }
    });
    api.addEventListener("readyToClose", function () { container.replaceChildren(); container.hidden = true; });
    return {
      unmount: function () { if (typeof api.dispose === "function") api.dispose(); },
    };
  }

  window.Portal.rooms.register("jitsi", mount);
})();
