"""HTTP figures: requests/s of POST /v1/triage next to a bare endpoint that only validates the same
pydantic model, same server configuration (uvicorn, uvloop, httptools, one worker, access log off),
same run, 32 connections, 127.0.0.1 only, bounded in time. Prints figures and their ratio.
A third endpoint validates and answers one fixed decision through the same response path: the
difference between it and /v1/triage is the time spent deciding.

Run: .venv/bin/python -m bench.http_bench [--seconds 8]   (uses wrk when installed, else an httpx client)
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

from bench.common import TYPICAL

CONNECTIONS = 32


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(port: int, data_dir: str) -> subprocess.Popen[bytes]:
    env = dict(os.environ, IOTSEC_BENCH_ENDPOINTS="1", IOTSEC_DATA_DIR=data_dir, IOTSEC_LOG_DECISIONS="false")
    cmd = [sys.executable, "-m", "uvicorn", "api.web.main:app", "--host", "127.0.0.1", "--port", str(port),
           "--workers", "1", "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit("server did not start")


def run_wrk(url: str, body: bytes, seconds: int) -> tuple[float, int]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                     f"wrk.body = {json.dumps(body.decode())}\n")
    out = subprocess.run(["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", "-s", script.name, url],
                         capture_output=True, text=True, timeout=seconds + 30).stdout
    os.unlink(script.name)
    rps = float(next(line.split()[1] for line in out.splitlines() if line.startswith("Requests/sec")))
    errors = sum(int(x) for line in out.splitlines() if "Non-2xx" in line for x in line.split()[-1:])
    return rps, errors


async def _httpx_load(url: str, body: bytes, seconds: int) -> tuple[float, int]:
    import httpx

    done = errors = 0
    stop = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
    async with httpx.AsyncClient(limits=limits, timeout=10) as client:
        async def worker() -> None:
            nonlocal done, errors
            while time.perf_counter() < stop:
                r = await client.post(url, content=body, headers={"content-type": "application/json"})
                done += 1
                errors += r.status_code != 200
        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONNECTIONS)))
        return done / (time.perf_counter() - start), errors


def load(url: str, body: bytes, seconds: int) -> tuple[float, int]:
    if shutil.which("wrk"):
        return run_wrk(url, body, seconds)
    return asyncio.run(_httpx_load(url, body, seconds))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=8)
    args = parser.parse_args()
    port = free_port()
    body = json.dumps(TYPICAL).encode()
    with tempfile.TemporaryDirectory() as data_dir:
        proc = start_server(port, data_dir)
        try:
            base = f"http://127.0.0.1:{port}"
            load(base + "/v1/triage", body, 2)  # warm-up
            bare, bare_err = load(base + "/_bench/validate", body, args.seconds)
            route, route_err = load(base + "/_bench/answer", body, args.seconds)
            full, full_err = load(base + "/v1/triage", body, args.seconds)
            rules_only, rules_err = load(base + "/v1/triage?registry=false", body, args.seconds)
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(15)
    tool = "wrk" if shutil.which("wrk") else "httpx"
    print(f"load: {tool}, {CONNECTIONS} connections, {args.seconds} s each, {len(body)}-byte proposal; decision log off")
    print(f"bare validating endpoint:   {bare:,.0f} requests/s = {1e6 / bare:,.0f} us per request ({bare_err} errors)")
    print(f"same, answering a decision: {route:,.0f} requests/s = {1e6 / route:,.0f} us ({route_err} errors; "
          "the route's own cost, one decision made at the first request and sent again)")
    print(f"/v1/triage:                 {full:,.0f} requests/s = {1e6 / full:,.0f} us ({full_err} errors)")
    print(f"/v1/triage?registry=false:  {rules_only:,.0f} requests/s = {1e6 / rules_only:,.0f} us ({rules_err} errors)")
    print(f"ratio: {full / bare:.0%} of the bare endpoint ({rules_only / bare:.0%} deciding from the rules alone; "
          f"{route / bare:.0%} answering without deciding)")


if __name__ == "__main__":
    main()
