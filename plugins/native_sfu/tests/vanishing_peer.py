"""A WHIP/WHEP peer in its own process, so a test can kill it without a goodbye (SIGKILL).

stdout: {"sdp": offer} then "connected"; stdin: the answer SDP as one JSON line.
"""

from __future__ import annotations

import asyncio
import json
import sys

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from portal_native_sfu.synthetic import CounterTrack


async def main(role: str) -> None:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    if role == "publish":
        pc.addTransceiver(CounterTrack(160, 120), direction="sendonly")
    else:
        pc.addTransceiver("video", direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    print(json.dumps({"sdp": pc.localDescription.sdp}), flush=True)
    answer = json.loads(await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline))
    await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
    for _ in range(200):
        if pc.connectionState == "connected":
            print("connected", flush=True)
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(3600)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
