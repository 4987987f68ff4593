"""SFU benchmark: encoded-frame forwarding vs aiortc's stock MediaRelay (decode + re-encode).

One 640x360 30 fps VP8 publisher, 1/10/25/50 subscribers, both on this machine:

    python -m bench.sfu [--subscribers 1,10,25,50] [--seconds 5] [--modes forward,relay]

Per case it prints the server process's CPU % (100 % = one core), frames per second
received (mean over all subscribers) and p50/p95 glass-to-glass latency. Latency is read
from the picture itself: the publisher draws its wall clock into every frame (see
portal_native_sfu.synthetic) and two "probe" subscribers in a separate process decode and
compare. The other subscribers only count frames (no decoding), so the load generator
does not starve the server on small machines. Both paths get identical treatment.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError
from portal_native_sfu import internals
from portal_native_sfu.channel import WorkerPool
from portal_native_sfu.synthetic import CounterTrack, latency_ms, now_ms, read_frame

ROOM = "bench-room"
PROBES = 2


def offline_pc() -> RTCPeerConnection:
    return RTCPeerConnection(RTCConfiguration(iceServers=[]))


async def call(pool: WorkerPool, method: str, params: dict | None = None, timeout: float = 60.0):
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(
        None, lambda: pool.call(ROOM, method, params or {}, index=0, timeout=timeout)
    )


async def subscribe(pool: WorkerPool, on_track) -> RTCPeerConnection:
    pc = offline_pc()
    pc.addTransceiver("video", direction="recvonly")
    pc.on("track", on_track)
    await pc.setLocalDescription(await pc.createOffer())
    reply = await call(pool, "subscribe", {"sdp": pc.localDescription.sdp})
    await pc.setRemoteDescription(RTCSessionDescription(reply["sdp"], "answer"))
    return pc


# The probe: decodes frames and reports rate and latency over the measurement window.


async def probe(socket_path: str, count: int, warmup: float, seconds: float) -> dict:
    pool = WorkerPool(
        run_dir=Path(socket_path).parent,
        workers=1,
        recording_dir=Path(tempfile.gettempdir()),
        autostart=False,
        sockets=[Path(socket_path)],
    )
    window: dict[str, float] = {}
    frames: list[list[int]] = [[] for _ in range(count)]

    def make_consumer(index: int):
        async def consume(track) -> None:
            with contextlib.suppress(MediaStreamError):
                while True:
                    frame = await track.recv()
                    t = time.monotonic()
                    if window.get("start", 1e18) <= t <= window.get("end", -1):
                        _counter, stamp = read_frame(frame)
                        frames[index].append(latency_ms(stamp, now_ms()))

        return lambda track: asyncio.ensure_future(consume(track))

    pcs = [await subscribe(pool, make_consumer(i)) for i in range(count)]
    await asyncio.sleep(warmup)
    window["start"] = time.monotonic()
    window["end"] = window["start"] + seconds
    await asyncio.sleep(seconds + 0.2)
    for pc in pcs:
        await pc.close()
    latencies = sorted(v for f in frames for v in f if v < 30000)
    return {"fps": [len(f) / seconds for f in frames], "latencies": latencies}


# The stock aiortc path, as an aiortc application would write it: MediaRelay fan-out.


async def serve_relay(socket_path: str) -> None:
    from aiortc.contrib.media import MediaRelay

    relay = MediaRelay()
    state: dict = {"source": None, "pcs": []}

    async def handle(method: str, params: dict):
        if method in ("ping", "ensure_room"):
            return {"pid": os.getpid(), "rooms": 1}
        if method == "publish":
            pc = offline_pc()
            state["pcs"].append(pc)
            pc.on(
                "track", lambda track: state.update(source=track) if track.kind == "video" else None
            )
            await pc.setRemoteDescription(RTCSessionDescription(params["sdp"], "offer"))
            await pc.setLocalDescription(await pc.createAnswer())
            return {"session": "p", "etag": "x", "sdp": pc.localDescription.sdp}
        if method == "subscribe":
            pc = offline_pc()
            state["pcs"].append(pc)
            await pc.setRemoteDescription(RTCSessionDescription(params["sdp"], "offer"))
            pc.addTrack(relay.subscribe(state["source"], buffered=False))
            await pc.setLocalDescription(await pc.createAnswer())
            return {"session": "s", "etag": "x", "sdp": pc.localDescription.sdp}
        raise ValueError(method)

    async def client(reader, writer):
        while line := await reader.readline():
            request = json.loads(line)
            try:
                reply = {
                    "ok": True,
                    "result": await handle(request["method"], request.get("params") or {}),
                }
            except Exception as exc:
                reply = {"ok": False, "error": {"code": "internal", "message": str(exc)}}
            writer.write(json.dumps(reply).encode() + b"\n")
            await writer.drain()
        writer.close()

    server = await asyncio.start_unix_server(client, path=socket_path, limit=1 << 20)
    async with server:
        await server.serve_forever()


# One benchmark case.


async def run_case(
    mode: str, subscribers: int, warmup: float, seconds: float, workdir: Path
) -> dict:
    socket_path = workdir / f"{mode}.sock"
    if mode == "forward":
        cmd = [
            sys.executable,
            "-m",
            "portal_native_sfu.worker",
            "--socket",
            str(socket_path),
            "--lock",
            str(workdir / f"{mode}.lock"),
            "--media-timeout",
            "60",
        ]
    else:
        cmd = [sys.executable, "-m", "bench.sfu", "--serve-relay", str(socket_path)]
    server = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=Path(__file__).parent.parent
    )
    pool = WorkerPool(
        run_dir=workdir, workers=1, recording_dir=workdir, autostart=False, sockets=[socket_path]
    )
    pcs: list[RTCPeerConnection] = []
    probe_proc = None
    try:
        for _ in range(200):
            if socket_path.exists() and pool.ping(0):
                break
            await asyncio.sleep(0.05)
        await call(pool, "ensure_room")
        publisher = offline_pc()
        pcs.append(publisher)
        publisher.addTransceiver(CounterTrack(640, 360, 30), direction="sendonly")
        await publisher.setLocalDescription(await publisher.createOffer())
        reply = await call(pool, "publish", {"sdp": publisher.localDescription.sdp})
        await publisher.setRemoteDescription(RTCSessionDescription(reply["sdp"], "answer"))
        await asyncio.sleep(1.0)

        counts = [0] * max(0, subscribers - PROBES)
        counting = {"on": False}

        def counter(index: int):
            async def consume(track) -> None:
                with contextlib.suppress(MediaStreamError):
                    while True:
                        await track.recv()
                        if counting["on"]:
                            counts[index] += 1

            return lambda track: asyncio.ensure_future(consume(track))

        for index in range(len(counts)):
            pcs.append(await subscribe(pool, counter(index)))
        probes = min(PROBES, subscribers)
        probe_proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.sfu",
            "--probe",
            str(socket_path),
            "--count",
            str(probes),
            "--warmup",
            str(warmup),
            "--seconds",
            str(seconds),
            stdout=asyncio.subprocess.PIPE,
            cwd=Path(__file__).parent.parent,
        )
        # Probes negotiate then warm up; measure over the same window they do.
        await asyncio.sleep(warmup + 0.5 * probes)
        cpu = psutil.Process(server.pid)
        before, t0 = cpu.cpu_times(), time.monotonic()
        counting["on"] = True
        await asyncio.sleep(seconds)
        counting["on"] = False
        after, t1 = cpu.cpu_times(), time.monotonic()
        output, _ = await asyncio.wait_for(probe_proc.communicate(), timeout=120)
        result = json.loads(output.decode().strip().splitlines()[-1])
        used = (after.user - before.user) + (after.system - before.system)
        fps = [c / seconds for c in counts] + result["fps"]
        latencies = result["latencies"]
        delivered = sum(fps) * seconds
        return {
            "mode": mode,
            "subscribers": subscribers,
            "cpu": 100.0 * used / (t1 - t0),
            # CPU per frame delivered stays comparable when a busy machine starves a path.
            "cpu_ms_per_frame": 1000.0 * used / delivered if delivered else None,
            "fps": statistics.fmean(fps) if fps else 0.0,
            "p50": statistics.median(latencies) if latencies else None,
            "p95": latencies[int(0.95 * (len(latencies) - 1))] if latencies else None,
        }
    finally:
        if probe_proc is not None and probe_proc.returncode is None:
            probe_proc.kill()
        for pc in pcs:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(pc.close(), 5)
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
        with contextlib.suppress(FileNotFoundError):
            socket_path.unlink()


def fmt(value, pattern: str) -> str:
    return "-" if value is None else pattern.format(value)


def measure(subscribers: list[int], modes: list[str], seconds: float, warmup: float) -> list[dict]:
    """One row per (subscriber count, mode)."""
    internals.install_passthrough_decoders()
    workdir = Path(tempfile.mkdtemp(prefix="sfub-"))
    rows = []
    try:
        for count in subscribers:
            for mode in modes:
                started = time.monotonic()
                try:
                    row = asyncio.run(run_case(mode, count, warmup, seconds, workdir))
                except Exception as exc:  # a saturated server can fail to set up 50 peers
                    row = {
                        "mode": mode,
                        "subscribers": count,
                        "cpu": None,
                        "cpu_ms_per_frame": None,
                        "fps": None,
                        "p50": None,
                        "p95": None,
                        "error": f"{type(exc).__name__}: {exc}",
                    }
                row["took"] = time.monotonic() - started
                rows.append(row)
                print(
                    f"  {mode:8} {count:3} subscribers done in {row['took']:.0f}s",
                    file=sys.stderr,
                    flush=True,
                )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return rows


def run() -> list:
    """`python -m bench` adapter: forwarding vs transcoding at 10 and 50 subscribers (no target in
    the issue; figures for the record). The SFU has no database or HTTP worker in its path."""
    from bench.common import Result

    names = {"forward": "forward (native_sfu)", "relay": "MediaRelay transcode"}
    results = []
    for row in measure([10, 50], ["forward", "relay"], seconds=4.0, warmup=2.0):
        scenario = f"SFU, 640x360 30 fps VP8, {row['subscribers']} subscribers"
        label = names.get(row["mode"], row["mode"])
        if row.get("error"):
            results.append(Result(scenario, label, "failed", note=row["error"][:120]))
            continue
        results.append(
            Result(
                scenario,
                f"{label}: CPU % / ms per frame",
                f"{fmt(row['cpu'], '{:.0f}')} / {fmt(row['cpu_ms_per_frame'], '{:.2f}')}",
            )
        )
        results.append(
            Result(
                scenario,
                f"{label}: fps received / latency p50 / p95",
                f"{fmt(row['fps'], '{:.1f}')} / {fmt(row['p50'], '{:.0f}')} / "
                f"{fmt(row['p95'], '{:.0f}')}",
                "fps / ms / ms",
            )
        )
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", default="1,10,25,50")
    parser.add_argument("--modes", default="forward,relay")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--serve-relay", help=argparse.SUPPRESS)
    parser.add_argument("--probe", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, default=PROBES, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_relay:
        asyncio.run(serve_relay(args.serve_relay))
        return 0
    # Subscribers in this process and in the probe only count/decode: the bulk ones need
    # no decoding at all, so they use the SFU's own pass-through receivers.
    if args.probe:
        print(
            json.dumps(asyncio.run(probe(args.probe, args.count, args.warmup, args.seconds))),
            flush=True,
        )
        return 0
    rows = measure(
        [int(n) for n in args.subscribers.split(",")],
        args.modes.split(","),
        args.seconds,
        args.warmup,
    )
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"\nSFU benchmark: one 640x360 30 fps VP8 publisher, {os.cpu_count()} cores (load "
        f"average {load}), "
        f"{args.seconds:.0f} s per case (CPU % of the server process; 100 % = one core)\n"
    )
    header = (
        f"{'subscribers':>11} | {'path':<22} | {'CPU %':>7} | {'CPU ms/frame':>12} | "
        f"{'fps recv':>8} | "
        f"{'p50 ms':>7} | {'p95 ms':>7}"
    )
    print(header)
    print("-" * len(header))
    names = {"forward": "forward (native_sfu)", "relay": "MediaRelay transcode"}
    for row in rows:
        line = (
            f"{row['subscribers']:>11} | {names.get(row['mode'], row['mode']):<22} | "
            f"{fmt(row['cpu'], '{:.0f}'):>7} | "
            f"{fmt(row['cpu_ms_per_frame'], '{:.2f}'):>12} | {fmt(row['fps'], '{:.1f}'):>8} | "
            f"{fmt(row['p50'], '{:.0f}'):>7} | {fmt(row['p95'], '{:.0f}'):>7}"
        )
        if row.get("error"):
            line += f"  ({row['error'][:60]})"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
