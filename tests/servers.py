"""Real servers for the tests and the benches: a free 127.0.0.1 port, and the wait until a
started server answers GET /healthz (bounded in time, and over as soon as the process exits)."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.request

HOST = "127.0.0.1"


def free_port() -> int:
    """A port nothing listens on now, on 127.0.0.1."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def wait_healthy(base: str, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> bool:
    """True once `base`/healthz answers 200; False when `proc` exits first or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=2) as r:
                if r.status == 200:
                    return True
        except OSError:  # not listening yet, or not ready (503)
            pass
        time.sleep(0.1)
    return False


def wait_deciders(base: str, want: int | None = None, timeout: float = 90.0) -> dict[str, int]:
    """The deciders' status from /healthz once `want` of them (default: all the server starts)
    are ready (api/runtime/deciders.py), or the last one seen after `timeout` seconds; {} for a
    server without deciders."""
    deadline = time.monotonic() + timeout
    seen: dict[str, int] = {}
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=2) as r:
                seen = json.load(r).get("deciders") or {}
        except OSError:
            time.sleep(0.2)
            continue
        if not seen or seen.get("ready", 0) >= (seen["processes"] if want is None else want):
            break
        time.sleep(0.2)
    return seen
