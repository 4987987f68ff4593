"""A GStreamer webrtcbin peer that publishes (WHIP) or watches (WHEP) through the portal's SFU.

Run with the system Python, which has Debian's python3-gi and GStreamer (the venv has not):

    /usr/bin/python3 gst_peer.py publish|watch vp8|h264 URL TOKEN [KEY=VALUE ...]

A publisher's picture and sound are set by KEY=VALUE options: pattern= (a videotestsrc
pattern: ball, red, blue, ...; default ball), size=WxH (320x240), fps= (30) and tone=HZ
(adds an Opus sine tone of that pitch: a camera with its microphone; default no audio).

It does the HTTP exchange itself (POST the offer after ICE gathering, apply the answer,
DELETE the Location on exit), like GStreamer's own whipsink/whepsrc would. Debian 12's
GStreamer 1.22 ships webrtcbin but neither whipclientsink nor whepsrc (those are in
gst-plugins-rs), so the signalling is done here in a few lines.

stdout, one JSON object per line:
    {"event": "answer", "status": 201, "location": ..., "setup": "passive"|"active"|...}
    {"event": "refused", "status": 4xx, "body": ...}        (then it exits 1)
    {"event": "state", "connection": "connected"|...}
    {"frames": N}     every 0.25 s: frames encoded and sent (publish) or decoded (watch)
    {"event": "deleted", "status": 200}                      (after "stop" on stdin)
stdin: "stop" ends the session with DELETE and exits.
"""

from __future__ import annotations

import json
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstSdp", "1.0")
gi.require_version("GstWebRTC", "1.0")
from gi.repository import GLib, Gst, GstSdp, GstWebRTC  # noqa: E402

SOURCE = (
    "videotestsrc is-live=true pattern={pattern} ! "
    "video/x-raw,width={width},height={height},framerate={fps}/1 ! videoconvert"
)
TONE = (
    "audiotestsrc is-live=true wave=sine freq={tone} volume=0.3 ! audioconvert ! audioresample"
    " ! opusenc ! rtpopuspay pt=111 ! application/x-rtp,media=audio,encoding-name=OPUS,"
    "payload=111 ! rtc."
)
DEFAULTS = {"pattern": "ball", "size": "320x240", "fps": "30", "tone": ""}
ENCODE = {
    "vp8": "vp8enc deadline=1 keyframe-max-dist=30",
    "h264": "x264enc tune=zerolatency speed-preset=ultrafast key-int-max=30",
}
PAYLOAD = {
    "vp8": "rtpvp8pay pt=96 ! application/x-rtp,media=video,encoding-name=VP8,payload=96",
    # Constrained baseline (42e01f), packetization-mode 1: what aiortc and browsers take.
    "h264": (
        "video/x-h264,profile=constrained-baseline ! rtph264pay pt=102 config-interval=-1 "
        "aggregate-mode=zero-latency ! application/x-rtp,media=video,encoding-name=H264,payload=102"
    ),
}
RECEIVE_CAPS = {
    "vp8": "application/x-rtp,media=video,encoding-name=VP8,payload=96,clock-rate=90000",
    "h264": (
        "application/x-rtp,media=video,encoding-name=H264,payload=102,clock-rate=90000,"
        "packetization-mode=(string)1,profile-level-id=(string)42e01f"
    ),
}
DECODE = {"vp8": "rtpvp8depay ! vp8dec", "h264": "rtph264depay ! avdec_h264"}


def emit(**fields) -> None:
    print(json.dumps(fields), flush=True)


class Peer:
    def __init__(self, role: str, codec: str, url: str, token: str, *options: str) -> None:
        self.role, self.codec, self.url, self.token = role, codec, url, token
        self.frames = 0
        self.location: str | None = None
        self.loop = GLib.MainLoop()
        if role == "publish":
            source = {**DEFAULTS, **dict(o.split("=", 1) for o in options)}
            width, height = source["size"].split("x")
            picture = SOURCE.format(
                pattern=source["pattern"], width=width, height=height, fps=source["fps"]
            )
            sound = TONE.format(tone=source["tone"]) if source["tone"] else ""
            self.pipe = Gst.parse_launch(
                f"{picture} ! {ENCODE[codec]} name=encoder ! {PAYLOAD[codec]} ! "
                f"webrtcbin name=rtc bundle-policy=max-bundle {sound}"
            )
            self.rtc = self.pipe.get_by_name("rtc")
            # Count what the encoder hands to the payloader: frames actually sent.
            self.pipe.get_by_name("encoder").get_static_pad("src").add_probe(
                Gst.PadProbeType.BUFFER, self._count
            )
        else:
            self.pipe = Gst.Pipeline.new("watch")
            self.rtc = Gst.ElementFactory.make("webrtcbin", "rtc")
            self.rtc.set_property("bundle-policy", GstWebRTC.WebRTCBundlePolicy.MAX_BUNDLE)
            self.pipe.add(self.rtc)
            self.rtc.emit(
                "add-transceiver",
                GstWebRTC.WebRTCRTPTransceiverDirection.RECVONLY,
                Gst.Caps.from_string(RECEIVE_CAPS[codec]),
            )
            self.rtc.connect("pad-added", self._on_incoming)
        self.rtc.connect("on-negotiation-needed", self._on_negotiation_needed)
        self.rtc.connect("notify::ice-gathering-state", self._on_gathering)
        self.rtc.connect("notify::connection-state", self._on_connection)
        self.offered = False
        self.created_offer = False

    def _count(self, _pad, _info):
        self.frames += 1
        return Gst.PadProbeReturn.OK

    def _on_incoming(self, _rtc, pad) -> None:
        if pad.get_direction() != Gst.PadDirection.SRC:
            return
        decode = Gst.parse_bin_from_description(
            f"{DECODE[self.codec]} name=decoder ! fakesink sync=false", True
        )
        self.pipe.add(decode)
        decode.sync_state_with_parent()
        pad.link(decode.get_static_pad("sink"))
        decode.get_by_name("decoder").get_static_pad("src").add_probe(
            Gst.PadProbeType.BUFFER, self._count
        )

    def _on_negotiation_needed(self, rtc) -> None:
        # Signals come from GStreamer's threads: do the work on the main loop.
        GLib.idle_add(self._create_offer)

    def _create_offer(self) -> bool:
        # One offer: with audio and video, negotiation-needed may come once per transceiver.
        if self.created_offer:
            return False
        self.created_offer = True
        if self.role == "publish":
            # WHIP sends only: a sendrecv offer would ask the server for media back.
            index = 0
            while (transceiver := self.rtc.emit("get-transceiver", index)) is not None:
                transceiver.set_property(
                    "direction", GstWebRTC.WebRTCRTPTransceiverDirection.SENDONLY
                )
                index += 1
        self.rtc.emit("create-offer", None, Gst.Promise.new_with_change_func(self._on_offer))
        return False

    def _on_offer(self, promise) -> None:
        # The offer lives in the reply structure: keep `reply` referenced while using it.
        reply = promise.get_reply()
        offer = reply.get_value("offer")
        self.rtc.emit("set-local-description", offer, Gst.Promise.new())
        del reply

    def _on_gathering(self, rtc, _spec) -> None:
        # No trickle ICE at the SFU: send the offer once every candidate is in it.
        if (
            rtc.get_property("ice-gathering-state") == GstWebRTC.WebRTCICEGatheringState.COMPLETE
            and not self.offered
        ):
            self.offered = True
            GLib.idle_add(self._post_offer)

    def _request(self, method: str, url: str, body: bytes | None = None):
        request = urllib.request.Request(
            url,
            data=body,
            method=method,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/sdp"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                # Header names folded: servers may send `location` (HTTP header names are
                # case-insensitive).
                return (
                    response.status,
                    {k.lower(): v for k, v in response.headers.items()},
                    response.read().decode(),
                )
        except urllib.error.HTTPError as exc:
            return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read().decode()
        except OSError as exc:
            return 0, {}, str(exc)

    def _post_offer(self) -> bool:
        offer = self.rtc.get_property("local-description").sdp.as_text()
        status, headers, body = self._request("POST", self.url, offer.encode())
        if status != 201:
            emit(event="refused", status=status, body=body)
            self.loop.quit()
            return False
        self.location = urllib.parse.urljoin(self.url, headers["location"])
        setup = next(
            (
                line.split(":", 1)[1].strip()
                for line in body.splitlines()
                if line.startswith("a=setup:")
            ),
            None,
        )
        emit(event="answer", status=status, location=self.location, setup=setup)
        _, message = GstSdp.SDPMessage.new_from_text(body)
        answer = GstWebRTC.WebRTCSessionDescription.new(GstWebRTC.WebRTCSDPType.ANSWER, message)
        self.rtc.emit("set-remote-description", answer, Gst.Promise.new())
        return False

    def _on_connection(self, rtc, _spec) -> None:
        state = rtc.get_property("connection-state").value_nick
        emit(event="state", connection=state)

    def _report(self) -> bool:
        emit(frames=self.frames)
        return True

    def _wait_for_stop(self) -> None:
        for line in sys.stdin:
            if line.strip() == "stop":
                break
        GLib.idle_add(self._stop)

    def _stop(self) -> bool:
        if self.location:
            status, _headers, _body = self._request("DELETE", self.location)
            emit(event="deleted", status=status)
        self.loop.quit()
        return False

    def run(self) -> int:
        self.pipe.set_state(Gst.State.PLAYING)
        GLib.timeout_add(250, self._report)
        threading.Thread(target=self._wait_for_stop, daemon=True).start()
        self.loop.run()
        self.pipe.set_state(Gst.State.NULL)
        return 0 if self.location else 1


if __name__ == "__main__":
    Gst.init(None)
    sys.exit(Peer(*sys.argv[1:]).run())
