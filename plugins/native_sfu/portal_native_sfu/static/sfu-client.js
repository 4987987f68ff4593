/* Plain-JS WHIP/WHEP client for the portal's bundled SFU.
 *
 *   const client = new PortalSfu({whipUrl, whepUrl, publishersUrl, token, iceServers});
 *   const pub = await client.publish(mediaStream, {label: "camera"});   // WHIP
 *   const view = await client.watch(publisherId, videoElement, onTrack); // WHEP
 *   pub.setAudioEnabled(false); pub.setVideoEnabled(false); await pub.stop();
 *
 * No trickle ICE: the offer is sent once gathering is complete (the server answers PATCH
 * with 501), which is what RFC 9725 clients must handle anyway. The SFU may be on another
 * origin than the page (its admin lists the page's origin in `cors_origins`).
 */
(function (global) {
  "use strict";

  function waitForIce(pc, timeoutMs) {
    if (pc.iceGatheringState === "complete") return Promise.resolve();
    return new Promise(function (resolve) {
      var timer = setTimeout(resolve, timeoutMs);
      pc.addEventListener("icegatheringstatechange", function () {
        if (pc.iceGatheringState === "complete") { clearTimeout(timer); resolve(); }
      });
    });
  }

  function Session(client, pc, location, stream) {
    this.client = client; this.pc = pc; this.location = location; this.stream = stream;
  }
  Session.prototype.setAudioEnabled = function (on) {
    (this.stream ? this.stream.getAudioTracks() : []).forEach(function (t) { t.enabled = on; });
  };
  Session.prototype.setVideoEnabled = function (on) {
    (this.stream ? this.stream.getVideoTracks() : []).forEach(function (t) { t.enabled = on; });
  };
  Session.prototype.stop = async function () {
    try {
      if (this.location) {
        await fetch(this.location, {method: "DELETE", headers: this.client.headers()});
      }
    } finally {
      this.pc.close();
    }
  };

  function PortalSfu(options) {
    this.whipUrl = options.whipUrl; this.whepUrl = options.whepUrl;
    this.publishersUrl = options.publishersUrl; this.token = options.token;
    this.iceServers = options.iceServers || [];
  }
  PortalSfu.prototype.headers = function (extra) {
    var h = {"Authorization": "Bearer " + this.token};
    for (var k in (extra || {})) h[k] = extra[k];
    return h;
  };
  PortalSfu.prototype.exchange = async function (url, pc) {
    await pc.setLocalDescription(await pc.createOffer());
    await waitForIce(pc, 2000);
    var response = await fetch(url, {method: "POST", body: pc.localDescription.sdp,
      headers: this.headers({"Content-Type": "application/sdp"})});
    if (response.status !== 201) {
      var text = await response.text();
      pc.close();
      var body = null;
      try { body = JSON.parse(text).error; } catch (e) { body = null; }
      var error = new Error(body && body.message ? body.message : Portal.t("SFU refused (%(status)s): %(reason)s", { status: response.status, reason: text }));
      error.status = response.status;
      error.code = body && body.code;
      throw error;
    }
    await pc.setRemoteDescription({type: "answer", sdp: await response.text()});
    // Location is relative to the WHIP/WHEP URL, which need not be on the page's origin.
    return new URL(response.headers.get("Location"), new URL(url, location.href)).href;
  };
  Session.prototype.kinds = function () {
    return this.stream ? this.stream.getTracks().map(function (t) { return t.kind; }) : [];
  };
  PortalSfu.prototype.publish = async function (stream, options) {
    var pc = new RTCPeerConnection({iceServers: this.iceServers});
    stream.getTracks().forEach(function (track) {
      pc.addTransceiver(track, {direction: "sendonly", streams: [stream]});
    });
    var label = (options && options.label) || "camera";
    var url = this.whipUrl + (this.whipUrl.indexOf("?") < 0 ? "?" : "&") + "label=" + encodeURIComponent(label);
    var where = await this.exchange(url, pc);
    return new Session(this, pc, where, stream);
  };
  // The element gets the remote stream; playing it (and so whether it is heard) is the
  // caller's decision: browsers refuse unmuted autoplay without a user gesture.
  PortalSfu.prototype.watch = async function (publisherId, videoElement, onTrack) {
    var pc = new RTCPeerConnection({iceServers: this.iceServers});
    pc.addTransceiver("video", {direction: "recvonly"});
    pc.addTransceiver("audio", {direction: "recvonly"});
    var remote = new MediaStream();
    pc.addEventListener("track", function (event) {
      remote.addTrack(event.track);
      if (videoElement && videoElement.srcObject !== remote) videoElement.srcObject = remote;
      if (onTrack) onTrack(event.track, remote);
    });
    var url = this.whepUrl + (publisherId ? "?publisher=" + encodeURIComponent(publisherId) : "");
    var where = await this.exchange(url, pc);
    return new Session(this, pc, where, remote);
  };
  PortalSfu.prototype.publishers = async function () {
    var response = await fetch(this.publishersUrl, {headers: this.headers()});
    if (!response.ok) throw new Error(Portal.t("cannot list streams (%(status)s)", { status: response.status }));
    return (await response.json()).publishers;
  };
  PortalSfu.prototype.fromElement = function (el) {
    return new PortalSfu({whipUrl: el.dataset.whipUrl, whepUrl: el.dataset.whepUrl,
      publishersUrl: el.dataset.publishersUrl, token: el.dataset.token,
      iceServers: JSON.parse(el.dataset.iceServers || "[]")});
  };
  PortalSfu.fromElement = PortalSfu.prototype.fromElement;

  global.PortalSfu = PortalSfu;
})(window);
