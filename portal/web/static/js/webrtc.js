/* A minimal WHIP publisher / WHEP player (RFC 9725 and the WHEP draft): the fallback the
 * class room uses for embed targets carrying `whip` / `whep` URLs when no plugin script
 * took over the `portal:embed` event. Optional `token` is sent as a Bearer token. */
(function () {
  "use strict";

  function iceGathered(pc, timeoutMs) {
    if (pc.iceGatheringState === "complete") return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => { clearTimeout(timer); pc.removeEventListener("icegatheringstatechange", check); resolve(); };
      const check = () => { if (pc.iceGatheringState === "complete") done(); };
      const timer = setTimeout(done, timeoutMs);
      pc.addEventListener("icegatheringstatechange", check);
    });
  }

  async function negotiate(pc, url, token) {
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    await iceGathered(pc, 2000);
    const headers = { "Content-Type": "application/sdp" };
    if (token) headers.Authorization = "Bearer " + token;
    const response = await fetch(url, { method: "POST", headers, body: pc.localDescription.sdp, credentials: "same-origin" });
    if (response.status !== 201 && !response.ok) throw new Error(Portal.t("the video server refused the connection (HTTP %(status)s)", { status: response.status }));
    const answer = await response.text();
    await pc.setRemoteDescription({ type: "answer", sdp: answer });
    const location = response.headers.get("Location");
    return location ? new URL(location, url).href : null;
  }

  function closer(pc, resource, token) {
    return () => {
      pc.close();
      if (resource) {
        const headers = token ? { Authorization: "Bearer " + token } : {};
        fetch(resource, { method: "DELETE", headers, credentials: "same-origin", keepalive: true }).catch(() => {});
      }
    };
  }

  async function publish(container, embed) {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
    const video = Portal.el("video", { autoplay: true, playsinline: true, muted: true, "aria-label": Portal.t("Your camera") });
    video.muted = true;
    video.srcObject = stream;
    container.append(video);
    const pc = new RTCPeerConnection({ iceServers: embed.ice_servers || [] });
    stream.getTracks().forEach((track) => pc.addTransceiver(track, { direction: "sendonly", streams: [stream] }));
    const resource = await negotiate(pc, embed.whip, embed.token);
    const close = closer(pc, resource, embed.token);
    window.addEventListener("pagehide", () => { close(); stream.getTracks().forEach((t) => t.stop()); });
    return pc;
  }

  async function play(container, embed) {
    const video = Portal.el("video", { autoplay: true, playsinline: true, controls: true, "aria-label": Portal.t("Class video") });
    container.append(video);
    const pc = new RTCPeerConnection({ iceServers: embed.ice_servers || [] });
    pc.addTransceiver("video", { direction: "recvonly" });
    pc.addTransceiver("audio", { direction: "recvonly" });
    const stream = new MediaStream();
    pc.addEventListener("track", (event) => { stream.addTrack(event.track); video.srcObject = stream; });
    const resource = await negotiate(pc, embed.whep, embed.token);
    window.addEventListener("pagehide", closer(pc, resource, embed.token));
    return pc;
  }

  async function mount(container, embed, manager) {
    if (manager && embed.whip) return publish(container, embed);
    if (embed.whep) return play(container, embed);
    throw new Error(Portal.t("this video server offers nothing to watch"));
  }

  window.PortalWebRTC = { mount };
})();
