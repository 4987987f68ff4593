/* Test double of the bundled SFU's sfu-client.js: only PortalSfu.fromElement. */
window.PortalSfu = {
  fromElement: function (el) {
    return { whipUrl: el.dataset.whipUrl, whepUrl: el.dataset.whepUrl, token: el.dataset.token,
             iceServers: JSON.parse(el.dataset.iceServers || "[]") };
  },
};
