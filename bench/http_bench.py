"""HTTP figures: requests/s of POST /v1/triage next to bare endpoints, in one run, 32 connections,
127.0.0.1 only, bounded in time. Prints figures and their ratios.

"Served identically": the bare endpoints are routes of the same app in the same server process
(uvicorn, uvloop, httptools, one worker, access log off, the same middleware: body limit,
security headers, observability), and take the same pydantic validation of the same bodies.
/_bench/lane also makes the one trip /v1/triage makes to a worker thread of the single-proposal
lane (api/web/lanes.py) and back, doing nothing there: the fair reference for a route whose work
runs in a thread. /_bench/validate answers on the event loop (no thread), the strictest one.
Each request carries another title (a counter), so that with the log on every decision is a new
row, as in use, not a duplicate found.

Three servers in turn: the default configuration (decision log ON, SQLite in a temporary
directory, group commit, decisions made in decider processes: one per core beyond the first,
api/runtime/deciders.py), the same with the log off (IOTSEC_LOG_DECISIONS=false), and the
default deciding in the server process (IOTSEC_DECIDE_PROCESSES=0: what the deciders buy). Each
is measured once its deciders are ready.
A last endpoint validates and answers one fixed decision through the same response path: the
difference between it and /v1/triage is the time spent deciding.

Beside each figure, the server's CPU time per request (user + system, every thread of the server
process and of its deciders, read from /proc on Linux), and the server process's own share: on a
machine shared with other work, requests/s move with the neighbours' load, CPU per request much
less. Its ratios are printed too.

Run: .venv/bin/python -m bench.http_bench [--seconds 8]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import TYPICAL
from tests.servers import free_port, wait_deciders, wait_healthy

ROOT = Path(__file__).resolve().parent.parent

CONNECTIONS = 32
# One counter for the whole run (warm-up included): every request of the run carries a title of
# its own, so that with the log on no measured request finds a row a warm-up request stored.
_TITLES = iter(range(10**9))


def start_server(
    port: int, data_dir: str, log_decisions: bool, decide_processes: int | None = None
) -> subprocess.Popen[bytes]:
    """The service as `make run` serves it (decide_processes None: its default), with the bench endpoints."""
    env = dict(
        os.environ,
        IOTSEC_BENCH_ENDPOINTS="1",
        IOTSEC_DATA_DIR=data_dir,
        IOTSEC_LOG_DECISIONS="true" if log_decisions else "false",
    )
    env.pop("IOTSEC_DATABASE_URL", None)
    env.pop("IOTSEC_DECIDE_PROCESSES", None)
    if decide_processes is not None:
        env["IOTSEC_DECIDE_PROCESSES"] = str(decide_processes)
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "api.web.main:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True)
    if wait_healthy(f"http://127.0.0.1:{port}", proc, timeout=60):
        return proc
    proc.kill()
    raise SystemExit("server did not start")


async def _raw_load(url: str, body: bytes, seconds: int) -> tuple[float, int]:
    """A small HTTP/1.1 keep-alive client on asyncio streams: CONNECTIONS connections, each sending
    its next request when the last answer is read. Far lighter than a general client, so that on a
    small machine the server, not the client, is what is measured."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    template = json.loads(body)
    counter = _TITLES
    done = errors = 0
    stop = time.perf_counter() + seconds

    def request() -> bytes:
        one = json.dumps(dict(template, title=f"{template['title']} {next(counter)}")).encode()
        return (
            f"POST {path} HTTP/1.1\r\nHost: {parts.hostname}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(one)}\r\n\r\n"
        ).encode() + one

    async def worker() -> None:
        nonlocal done, errors
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        try:
            while time.perf_counter() < stop:
                writer.write(request())
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
                status = int(head.split(b" ", 2)[1])
                length = next(
                    int(h.split(b":", 1)[1]) for h in head.split(b"\r\n") if h.lower().startswith(b"content-length:")
                )
                await reader.readexactly(length)
                done += 1
                errors += status != 200
        finally:
            writer.close()
            await writer.wait_closed()

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONNECTIONS)))
    return done / (time.perf_counter() - start), errors


def load(url: str, body: bytes, seconds: int) -> tuple[float, int]:
    # Each request a new title (wrk would send one body again and again).
    return asyncio.run(_raw_load(url, body, seconds))


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process so far (every thread), or None where /proc is not."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    """The processes a process started (its deciders), from /proc on Linux."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def measured(pid: int, url: str, body: bytes, seconds: int) -> tuple[float, int, float | None, float | None]:
    """(requests/s, errors, CPU microseconds per request of the server and its deciders, of the
    server process alone), the CPU figures None where /proc is not."""
    pids = [pid, *children(pid)]
    before, start = [cpu_seconds(p) for p in pids], time.perf_counter()
    rps, errors = load(url, body, seconds)
    after, elapsed = [cpu_seconds(p) for p in pids], time.perf_counter() - start
    if None in before or None in after or rps <= 0:
        return rps, errors, None, None
    used = [a - b for a, b in zip(after, before)]  # type: ignore[operator]
    per = 1e6 / (rps * elapsed)
    return rps, errors, sum(used) * per, used[0] * per


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=8)
    args = parser.parse_args()
    body = json.dumps(TYPICAL).encode()
    figures: dict[str, tuple[float, int, float | None, float | None]] = {}
    ready: dict[str, int] = {}
    # (figure, log on, deciders): the default configuration, the same with the log off, and the
    # default deciding in the server process (what the deciders buy).
    for tag, log_on, processes in (("on", True, None), ("off", False, None), ("on_in_server", True, 0)):
        port = free_port()
        with tempfile.TemporaryDirectory() as data_dir:
            proc = start_server(port, data_dir, log_on, processes)
            try:
                base = f"http://127.0.0.1:{port}"
                if processes is None:
                    ready = wait_deciders(base)
                load(base + "/v1/triage", body, 2)  # warm-up
                if tag == "on":
                    figures["validate"] = measured(proc.pid, base + "/_bench/validate", body, args.seconds)
                    figures["lane"] = measured(proc.pid, base + "/_bench/lane", body, args.seconds)
                figures[f"triage_{tag}"] = measured(proc.pid, base + "/v1/triage", body, args.seconds)
                if tag == "off":
                    figures["rules_off"] = measured(proc.pid, base + "/v1/triage?registry=false", body, args.seconds)
                    figures["answer"] = measured(proc.pid, base + "/_bench/answer", body, args.seconds)
            finally:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(15)
    lane, validate = figures["lane"][0], figures["validate"][0]
    print(
        f"load: asyncio keep-alive client, {CONNECTIONS} connections, {args.seconds} s each, {len(body)}-byte "
        "proposal (a new title each request)"
    )

    print(f"deciders: {ready.get('ready', 0)} process(es) ready (IOTSEC_DECIDE_PROCESSES; 0: decided in the server)")
    lane_cpu = figures["lane"][2]

    def line(name: str, key: str) -> None:
        rps, err, cpu, own = figures[key]
        cpu_text = (
            ""
            if cpu is None or lane_cpu is None or own is None
            else f"; CPU {cpu:>6,.0f} us/request ({lane_cpu / cpu:.2f}), server process {own:>6,.0f}"
        )
        print(
            f"{name:<44}{rps:>8,.0f} requests/s = {1e6 / rps:>6,.0f} us ({err} errors)  "
            f"{rps / lane:.2f} of the bare lane endpoint, {rps / validate:.2f} of the bare async one{cpu_text}"
        )

    line("bare validating endpoint, async", "validate")
    line("bare validating endpoint, via the lane", "lane")
    line("/v1/triage, DEFAULT (log on, SQLite)", "triage_on")
    line("/v1/triage, log off", "triage_off")
    line("/v1/triage, log on, decided in the server", "triage_on_in_server")
    line("/v1/triage?registry=false, log off", "rules_off")
    line("a fixed decision answered, log off", "answer")
    on = figures["triage_on"][0]
    on_cpu = figures["triage_on"][2]
    if on_cpu is not None and lane_cpu is not None:
        print(
            f"server CPU per request: default configuration {on_cpu:,.0f} us against {lane_cpu:,.0f} us for the "
            f"bare lane endpoint ({lane_cpu / on_cpu:.2f}); log off {figures['triage_off'][2] or 0:,.0f} us"
        )
    print(
        f"ratio (target >= 0.50): default configuration {on / lane:.2f} of the bare endpoint served identically "
        f"(via the lane); {on / validate:.2f} of the async bare endpoint; log on / log off "
        f"{on / figures['triage_off'][0]:.2f}; deciders / deciding in the server "
        f"{on / figures['triage_on_in_server'][0]:.2f}"
    )


if __name__ == "__main__":
    main()
