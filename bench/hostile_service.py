"""Hostile requests against a real server: does /healthz keep moving while they are decided?

Starts `iotsec-triage serve` on 127.0.0.1 (decision log on), probes /healthz every 20 ms on its
own connection, and meanwhile sends, case after case, for CASE_SECONDS each:
  idle         nothing else: the reference on this machine
  text-100k    a proposal whose `text` is 100 KB of "de-identification " (the worst case for the
               lexicon's blockers; 4 to 9 s on the event loop before issue #13), one client in a loop
  text-100k x2 the same, two clients
  batch-5x100k five such proposals in one batch (20.6 s of a frozen server before), 2 clients
  batch-20     batches of twenty typical proposals, 4 clients
Prints, per case: requests, their statuses and slowest time, and /healthz p50/p99/max meanwhile.
The targets (issue #13): the 100 KB body answers within a second, /healthz p99 under 50 ms.

Run: .venv/bin/python -m bench.hostile_service   (about 20 s; prints figures; exit 1 on a failed request)
"""

from __future__ import annotations

import json
import secrets
import shutil
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from bench.common import TYPICAL
from bench.load_test import Server
from engine import bundled_rules_dir

CASE_SECONDS = 4.0
HOSTILE = dict(TYPICAL, text=("de-identification " * 6000)[:100_000])


class Prober(threading.Thread):
    """GET /healthz every 20 ms on one keep-alive connection, recording each latency (bounded)."""

    def __init__(self, base: str) -> None:
        super().__init__(daemon=True)
        self.base = base
        self.samples: list[tuple[float, float]] = []  # (start, seconds)
        self.errors = 0
        self.stop_event = threading.Event()

    def run(self) -> None:
        with httpx.Client(base_url=self.base, timeout=30) as c:
            for _ in range(5000):
                if self.stop_event.wait(0.02):
                    return
                t0 = time.perf_counter()
                try:
                    ok = c.get("/healthz").status_code == 200
                except httpx.HTTPError:
                    ok = False
                self.errors += not ok
                self.samples.append((t0, time.perf_counter() - t0))

    def between(self, start: float, end: float) -> list[float]:
        return sorted(s for t, s in self.samples if start <= t <= end)


def pct(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))] * 1000 if values else float("nan")


def main() -> int:
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="iotsec-hostile-") as tmp:
        work = Path(tmp)
        rules = work / "rules"
        shutil.copytree(bundled_rules_dir(), rules, ignore=shutil.ignore_patterns("__pycache__", "*.py"))
        env = {
            "IOTSEC_ADMIN_TOKEN": secrets.token_urlsafe(24),
            "IOTSEC_RULES_DIR": str(rules),
            "IOTSEC_DATA_DIR": str(work / "data"),
            "IOTSEC_LOG_LEVEL": "WARNING",
            "IOTSEC_LOG_DECISIONS": "true",
        }
        server = Server(work, "hostile", 1, env)
        try:
            server.wait_ready()
            prober = Prober(server.base)
            prober.start()
            time.sleep(1.0)
            batch20 = {"items": [dict(TYPICAL, reference=f"Y.h-{i}") for i in range(20)]}
            cases = [
                ("idle", "", None, 0),
                ("text-100k", "/v1/triage", HOSTILE, 1),
                ("text-100k x2", "/v1/triage", HOSTILE, 2),
                (
                    "batch-5x100k",
                    "/v1/triage/batch",
                    {"items": [dict(HOSTILE, reference=f"Y.x{i}") for i in range(5)]},
                    2,
                ),
                ("batch-20", "/v1/triage/batch", batch20, 4),
            ]
            print(
                f"{'case':<14} {'requests':>8} {'status':>10} {'max s':>7}   healthz: {'n':>4} {'p50 ms':>7} "
                f"{'p99 ms':>7} {'max ms':>7}"
            )
            with httpx.Client(base_url=server.base, timeout=120) as c:
                for name, path, body, parallel in cases:
                    start = time.perf_counter()
                    content = json.dumps(body)

                    def send(_: int, path: str = path, content: str = content) -> list[tuple[int, float]]:
                        out = []
                        for _ in range(1000):  # bounded; ends after CASE_SECONDS
                            if time.perf_counter() - start > CASE_SECONDS:
                                break
                            t0 = time.perf_counter()
                            r = c.post(path, content=content, headers={"content-type": "application/json"})
                            out.append((r.status_code, time.perf_counter() - t0))
                        return out

                    if parallel:
                        with ThreadPoolExecutor(parallel) as pool:
                            answers = [a for chunk in pool.map(send, range(parallel)) for a in chunk]
                    else:  # the reference: /healthz alone
                        time.sleep(CASE_SECONDS)
                        answers = [(200, 0.0)]
                    end = time.perf_counter()
                    time.sleep(0.3)
                    health = prober.between(start, end)
                    statuses = sorted({s for s, _ in answers})
                    slowest = max(t for _, t in answers)
                    print(
                        f"{name:<14} {len(answers):>8} {','.join(map(str, statuses)):>10} {slowest:>7.2f}   "
                        f"         {len(health):>4} {pct(health, 0.5):>7.1f} {pct(health, 0.99):>7.1f} "
                        f"{(health[-1] * 1000 if health else float('nan')):>7.1f}"
                    )
                    if statuses != [200]:
                        failures.append(f"{name}: statuses {statuses}")
            prober.stop_event.set()
            prober.join(timeout=5)
            if prober.errors:
                failures.append(f"/healthz failed {prober.errors} times")
        finally:
            server.stop()
    if failures:
        print("FAILED: " + "; ".join(failures))
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
