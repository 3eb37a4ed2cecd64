"""Bounded load test: 64 concurrent connections against the service on 127.0.0.1, at most 90 s in all.

The decision log is on (SQLite) in every phase. Phases (each prints requests, errors, throughput,
p50 and p99):
  triage        POST /v1/triage, one typical proposal
  batch(20)     POST /v1/triage/batch with 20 proposals, while an admin reloads changed rules every
                second (the note gives the slowest reload: a reload must not wait behind batches)
  page /        GET / (the submitters' page)
  page /queue   GET /queue, logged in as staff
  reload        POST /v1/triage while an admin reloads changed rules every second
  logging       POST /v1/triage, every request a new proposal written to the decision log;
                afterwards the log must hold one row per answered request, no more, no fewer
  sigterm       POST /v1/triage on 64 keep-alive connections, SIGTERM halfway: every request the
                server received must be answered (a refused new connection after the listener
                closed is not a received request); the server must exit 0
Zero errors are expected: any non-2xx/3xx answer, socket error or failed reload is counted, and
the exit status is 1 if there was one.

Run: .venv/bin/python -m bench.load_test [--scale 1.0] [--workers 1]
Uses wrk when /usr/bin/wrk exists (client in C, so the figures are the server's), else an httpx
asyncio client. Every server it starts binds 127.0.0.1 and is stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import TYPICAL
from engine import bundled_rules_dir
from tests.servers import free_port, wait_healthy

ROOT = Path(__file__).resolve().parent.parent

CONNECTIONS = 64
TOTAL_BUDGET = 90.0
WRK = "/usr/bin/wrk"
HOST = "127.0.0.1"


@dataclass
class Result:
    name: str
    requests: int
    errors: int
    seconds: float
    p50_ms: float
    p99_ms: float
    note: str = ""

    def line(self) -> str:
        rps = self.requests / self.seconds if self.seconds else 0.0
        return (
            f"{self.name:<12} {self.requests:>8} {self.errors:>6} {rps:>10.1f} {self.p50_ms:>9.1f} {self.p99_ms:>9.1f}"
            f"  {self.note}"
        )


# -- the server ----------------------------------------------------------------------------------


class Server:
    """`iotsec-triage serve` in a subprocess on a free 127.0.0.1 port; its JSON log goes to a file."""

    def __init__(self, workdir: Path, name: str, workers: int, env: dict[str, str]) -> None:
        self.port = free_port()
        self.base = f"http://{HOST}:{self.port}"
        self.log_path = workdir / f"{name}.log"
        full_env = dict(os.environ, IOTSEC_WORKERS=str(workers), **env)
        full_env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from api.cli import main; main()",
                "serve",
                "--host",
                HOST,
                "--port",
                str(self.port),
            ],
            cwd=workdir,
            env=full_env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 30.0) -> None:
        if wait_healthy(self.base, self.proc, timeout):
            return
        if self.proc.poll() is not None:
            raise SystemExit(f"server exited early; log:\n{self.log_path.read_text()[-2000:]}")
        self.stop()
        raise SystemExit("server did not start in time")

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        self._log.close()
        return self.proc.returncode

    def error_lines(self) -> list[str]:
        out = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                out.append(f"(not JSON) {line[:200]}")
                continue
            if record.get("level") in ("error", "critical") or (record.get("status") or 0) >= 500:
                out.append(line[:300])
        return out


# -- load generators -----------------------------------------------------------------------------


def _lua_string(text: str) -> str:
    return json.dumps(text)  # a JSON string literal is a valid Lua string literal for this ASCII text


def wrk_script(method: str, headers: dict[str, str], body: str | None, unique: tuple[str, str] | None) -> str:
    """A wrk Lua script: a fixed request, or (unique) a body made of prefix .. thread-counter .. suffix."""
    lines = [f"wrk.method = {_lua_string(method)}"]
    lines += [f"wrk.headers[{_lua_string(k)}] = {_lua_string(v)}" for k, v in headers.items()]
    if body is not None and unique is None:
        lines.append(f"wrk.body = {_lua_string(body)}")
    if unique is not None:
        prefix, suffix = unique
        lines += [
            "local threads = 0",
            "function setup(thread) threads = threads + 1; thread:set('tid', threads) end",
            "local n = 0",
            "function request()",
            "  n = n + 1",
            f"  local body = {_lua_string(prefix)} .. tid .. '-' .. n .. {_lua_string(suffix)}",
            "  return wrk.format(nil, nil, nil, body)",
            "end",
        ]
    return "\n".join(lines) + "\n"


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip()).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def run_wrk(
    name: str,
    url: str,
    seconds: float,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    body: str | None = None,
    unique: tuple[str, str] | None = None,
    timeout: float = 10.0,
) -> Result:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(wrk_script(method, headers or {}, body, unique))
    try:
        secs = max(1, int(round(seconds)))
        proc = subprocess.run(
            [
                WRK,
                "-t2",
                f"-c{CONNECTIONS}",
                f"-d{secs}s",
                "--timeout",
                f"{timeout:g}s",
                "--latency",
                "-s",
                f.name,
                url,
            ],
            capture_output=True,
            text=True,
            timeout=secs + 20,
        )
    finally:
        os.unlink(f.name)
    out = proc.stdout
    total = re.search(r"(\d+) requests in ([\d.]+)(s|m)", out)
    if total is None:
        raise SystemExit(f"wrk gave no figures for {name}:\n{out}\n{proc.stderr}")
    requests = int(total.group(1))
    elapsed = float(total.group(2)) * (60 if total.group(3) == "m" else 1)
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if sock:
        errors += sum(int(n) for n in sock.groups())
    dist = dict(re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", out, re.MULTILINE))
    return Result(name, requests, errors, elapsed, _ms(dist.get("50", "0ms")), _ms(dist.get("99", "0ms")))


def run_httpx(
    name: str,
    url: str,
    seconds: float,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    body: str | None = None,
    unique: tuple[str, str] | None = None,
    timeout: float = 10.0,
) -> Result:
    import httpx

    latencies: list[float] = []
    errors = 0

    async def main() -> float:
        nonlocal errors
        limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
        stop = time.perf_counter() + seconds
        async with httpx.AsyncClient(limits=limits, timeout=timeout, headers=headers or {}) as client:

            async def worker(wid: int) -> None:
                nonlocal errors
                n = 0
                while time.perf_counter() < stop:
                    n += 1
                    content = (unique[0] + f"{wid}-{n}" + unique[1]) if unique else body
                    t0 = time.perf_counter()
                    try:
                        r = await client.request(method, url, content=content)
                        errors += r.status_code >= 400
                    except httpx.HTTPError:
                        errors += 1
                    latencies.append(time.perf_counter() - t0)

            start = time.perf_counter()
            await asyncio.gather(*(worker(i) for i in range(CONNECTIONS)))
            return time.perf_counter() - start

    elapsed = asyncio.run(main())
    latencies.sort()
    pick = (
        (lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000) if latencies else (lambda q: 0.0)
    )
    return Result(name, len(latencies), errors, elapsed, pick(0.50), pick(0.99))


def run_sigterm(server: Server, url: str, seconds: float, headers: dict[str, str], body: str) -> Result:
    """Load on keep-alive connections, SIGTERM halfway; errors = requests sent and not answered (or 5xx)."""
    import httpx

    latencies: list[float] = []
    errors = refused = 0
    kinds: dict[str, int] = {}

    async def main() -> float:
        nonlocal errors, refused
        limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
        start = time.perf_counter()
        asyncio.get_running_loop().call_later(seconds / 2, server.proc.send_signal, signal.SIGTERM)
        deadline = start + seconds + 40  # the graceful stop, bounded

        async with httpx.AsyncClient(limits=limits, timeout=30, headers=headers) as client:

            async def worker() -> None:
                nonlocal errors, refused
                while time.perf_counter() < deadline:
                    t0 = time.perf_counter()
                    try:
                        r = await client.post(url, content=body)
                    except httpx.ConnectError:
                        refused += 1  # the listener is closed: this request never reached the server
                        return
                    except httpx.HTTPError as exc:
                        errors += 1
                        kinds[type(exc).__name__] = kinds.get(type(exc).__name__, 0) + 1
                        return
                    latencies.append(time.perf_counter() - t0)
                    if r.status_code >= 400:
                        errors += 1
                        kinds[str(r.status_code)] = kinds.get(str(r.status_code), 0) + 1

            await asyncio.gather(*(worker() for _ in range(CONNECTIONS)))
        return time.perf_counter() - start

    elapsed = asyncio.run(main())
    latencies.sort()
    pick = (
        (lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000) if latencies else (lambda q: 0.0)
    )
    note = f"answered {len(latencies)}, refused after close {refused}" + (f", failed {kinds}" if kinds else "")
    return Result("sigterm", len(latencies) + errors, errors, elapsed, pick(0.50), pick(0.99), note)


# -- helpers -------------------------------------------------------------------------------------


def call(
    method: str,
    url: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    opener: urllib.request.OpenerDirector | None = None,
) -> tuple[int, bytes, Any]:
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with (opener or urllib.request.build_opener()).open(req, timeout=15) as r:
            return r.status, r.read(), r.headers
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), exc.headers


def staff_cookie(base: str, token: str) -> str:
    """Log in on the staff page as a person would (CSRF token from the form) and return the session cookie."""
    from http.cookiejar import CookieJar

    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), _NoRedirect())
    status, page, _ = call("GET", f"{base}/login", opener=opener)
    match = re.search(rb'name="csrf" value="([^"]+)"', page)
    if status != 200 or match is None:
        raise SystemExit(f"GET /login answered {status} without a CSRF token")
    form = urllib.parse.urlencode({"csrf": match.group(1).decode(), "name": "load test", "token": token}).encode()
    status, _, _ = call("POST", f"{base}/login", form, {"content-type": "application/x-www-form-urlencoded"}, opener)
    if status != 303:
        raise SystemExit(f"staff login answered {status}")
    return "; ".join(f"{c.name}={c.value}" for c in jar)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class Reloader(threading.Thread):
    """Changes a rule file and asks for a reload once a second until stopped; counts the outcomes."""

    def __init__(self, base: str, token: str, rules: Path) -> None:
        super().__init__(daemon=True)
        self.base, self.token, self.rules = base, token, rules
        self.stop_event = threading.Event()
        self.ok = self.failed = 0
        self.revisions: set[str] = set()
        self.slowest = 0.0

    def run(self) -> None:
        catalogue = self.rules / "catalogue.yaml"
        original = catalogue.read_text()
        n = 0
        while not self.stop_event.wait(1.0) and n < 120:
            n += 1
            catalogue.write_text(original + f"\n# load test reload {n}\n")  # a new revision each time
            t0 = time.perf_counter()
            status, body, _ = call(
                "POST", f"{self.base}/v1/rules/reload", b"", {"Authorization": f"Bearer {self.token}"}
            )
            self.slowest = max(self.slowest, time.perf_counter() - t0)
            if status == 200:
                self.ok += 1
                self.revisions.add(json.loads(body)["revision"])
            else:
                self.failed += 1


# -- main ----------------------------------------------------------------------------------------


def stop_and_check(server: Server, label: str) -> list[str]:
    """Stop a server; what went wrong: error lines in its log, or a non-zero exit."""
    code = server.stop()
    problems = [f"{label}: {line}" for line in server.error_lines()]
    if code != 0:
        problems.append(f"{label} exited with {code}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="Multiply every phase's duration (at most 1.0).")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers of the server under test.")
    parser.add_argument("--httpx", action="store_true", help="Use the httpx client even when wrk is installed.")
    args = parser.parse_args()
    scale = min(max(args.scale, 0.1), 1.0)
    started = time.monotonic()
    deadline = started + TOTAL_BUDGET
    use_wrk = Path(WRK).exists() and not args.httpx
    load: Callable[..., Result] = run_wrk if use_wrk else run_httpx

    admin = os.environ.get("IOTSEC_ADMIN_TOKEN") or secrets.token_urlsafe(24)
    staff = os.environ.get("IOTSEC_STAFF_TOKEN") or secrets.token_urlsafe(24)
    proposal = json.dumps(TYPICAL)
    batch = json.dumps({"items": [dict(TYPICAL, reference=f"Y.batch-{i}") for i in range(20)]})
    json_headers = {"Content-Type": "application/json"}
    results: list[Result] = []
    failures: list[str] = []

    def budget(planned: float, reserve: float) -> float:
        return max(1.0, min(planned * scale, deadline - time.monotonic() - reserve))

    print(
        f"load test: {CONNECTIONS} connections, {'wrk' if use_wrk else 'httpx asyncio client'}, "
        f"{args.workers} worker(s), 127.0.0.1, budget {TOTAL_BUDGET:.0f} s"
    )
    with tempfile.TemporaryDirectory(prefix="iotsec-load-") as tmp:
        work = Path(tmp)
        rules = work / "rules"
        shutil.copytree(bundled_rules_dir(), rules, ignore=shutil.ignore_patterns("__pycache__", "*.py"))
        common = {
            "IOTSEC_ADMIN_TOKEN": admin,
            "IOTSEC_STAFF_TOKEN": staff,
            "IOTSEC_RULES_DIR": str(rules),
            "IOTSEC_DATA_DIR": str(work / "data"),
            "IOTSEC_LOG_LEVEL": "WARNING",
        }

        # Server A: the decision log is on (the same proposals: recorded once, then "existing").
        server = Server(work, "server-a", args.workers, dict(common, IOTSEC_LOG_DECISIONS="true"))
        try:
            server.wait_ready()
            base = server.base
            results.append(load("triage", f"{base}/v1/triage", budget(8, 50), "POST", json_headers, proposal))
            reloader = Reloader(base, admin, rules)
            reloader.start()
            # 64 batches of 20 at once are 64 x 20 decisions queued: on two cores the last answer takes
            # well over 10 s whatever the order, so this phase allows 30 s per request.
            r = load("batch(20)", f"{base}/v1/triage/batch", budget(8, 42), "POST", json_headers, batch, timeout=30.0)
            reloader.stop_event.set()
            reloader.join(timeout=20)
            r.note = f"reloads ok={reloader.ok} failed={reloader.failed}, slowest reload {reloader.slowest:.2f} s"
            if reloader.failed or not reloader.ok:
                failures.append(f"reloads during batches: {reloader.ok} ok, {reloader.failed} failed")
            results.append(r)
            results.append(load("page /", f"{base}/", budget(4, 36)))
            cookie = staff_cookie(base, staff)
            results.append(load("page /queue", f"{base}/queue", budget(4, 32), headers={"Cookie": cookie}))
            reloader = Reloader(base, admin, rules)
            reloader.start()
            r = load("reload", f"{base}/v1/triage", budget(8, 26), "POST", json_headers, proposal)
            reloader.stop_event.set()
            reloader.join(timeout=20)
            r.note = (
                f"reloads ok={reloader.ok} failed={reloader.failed} revisions={len(reloader.revisions)}, "
                f"slowest reload {reloader.slowest:.2f} s"
            )
            if reloader.failed or not reloader.ok:
                failures.append(f"reloads: {reloader.ok} ok, {reloader.failed} failed")
            results.append(r)
        finally:
            failures += stop_and_check(server, "server A")

        # Server B: every request is a new proposal, written to the SQLite decision log.
        server = Server(work, "server-b", args.workers, dict(common, IOTSEC_LOG_DECISIONS="true"))
        try:
            server.wait_ready()
            base = server.base
            head = json.dumps({k: v for k, v in TYPICAL.items() if k != "reference"})[:-1] + ', "reference": "Y.load-'
            r = load("logging", f"{base}/v1/triage", budget(8, 18), "POST", json_headers, unique=(head, '"}'))
            time.sleep(0.5)  # let the last requests wrk gave up on finish
            status, body, _ = call("GET", f"{base}/v1/decisions?limit=1", headers={"Authorization": f"Bearer {staff}"})
            rows = json.loads(body)["total"] if status == 200 else -1
            r.note = f"rows in the decision log: {rows}"
            # wrk stops with up to CONNECTIONS requests unanswered; the server may still finish them.
            if not r.requests - r.errors <= rows <= r.requests + CONNECTIONS:
                failures.append(f"decision log holds {rows} rows for {r.requests - r.errors} answered requests")
            results.append(r)
            r = run_sigterm(server, f"{base}/v1/triage", budget(4, 2), json_headers, proposal)
            results.append(r)
            if server.proc.wait(timeout=40) != 0:
                failures.append(f"server B exited with {server.proc.returncode} after SIGTERM")
        finally:
            failures += stop_and_check(server, "server B")

    print(f"{'phase':<12} {'requests':>8} {'errors':>6} {'req/s':>10} {'p50 ms':>9} {'p99 ms':>9}")
    for r in results:
        print(r.line())
        if r.errors:
            failures.append(f"{r.name}: {r.errors} errors")
    print(f"total time {time.monotonic() - started:.1f} s")
    if failures:
        print("FAILED:\n  " + "\n  ".join(failures[:30]))
        return 1
    print("zero errors")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
