/* Test double of the bundled SFU's sfu-room.js: reads #sfu-room like the real one does. */
(function () {
  var root = document.getElementById("sfu-room");
  if (!root) return;
  var client = PortalSfu.fromElement(root);
  var camera = root.querySelector('[data-action="camera"]');
  root.querySelector(".sfu-status").textContent = (camera ? "Ready to publish to " + client.whipUrl : "Watching " + client.whepUrl) +
    " with " + client.iceServers.length + " ICE servers";
  root.querySelector(".sfu-remote").appendChild(document.createElement("video"));
})();
