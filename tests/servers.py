"""Real servers for the tests and the benches: a free 127.0.0.1 port, and the wait until a
started server answers GET /healthz (bounded in time, and over as soon as the process exits)."""

from __future__ import annotations

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
