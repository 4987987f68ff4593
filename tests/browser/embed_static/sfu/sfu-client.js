/* Test double of the bundled SFU's sfu-client.js: records how the room script built it and
 * answers the publisher list with nobody publishing (no media server behind this stub). */
window.__sfuClients = [];
window.PortalSfu = function (options) {
  window.__sfuClients.push({ whipUrl: options.whipUrl, whepUrl: options.whepUrl, iceServers: options.iceServers.length });
  this.token = options.token;
};
window.PortalSfu.prototype.headers = function () { return { Authorization: "Bearer " + this.token }; };
