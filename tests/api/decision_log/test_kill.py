"""Group commit keeps its promise: a server killed with SIGKILL in the middle of a load has
stored every decision it answered `X-Decision-Log: recorded` (committed before the answer).
The server runs as `make run` does: decisions made in a decider process, the log written by the
server (the kill takes the decider with it: one process group).

The server is uvicorn in a child process on 127.0.0.1 with the SQLite log in a temporary
directory; a few client threads send distinct proposals for a bounded number of requests each,
the server is killed once enough answers came back, and the database is then read directly.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

from tests.servers import free_port, wait_deciders, wait_healthy

ROOT = Path(__file__).resolve().parents[3]
CLIENTS = 6
PER_CLIENT = 400  # bounded: each client stops after this many requests or at the first refused one
KILL_AFTER = 60  # answers seen before the kill


def test_every_decision_answered_recorded_survives_kill_9(tmp_path: Path) -> None:
    port = free_port()
    db = tmp_path / "decisions.sqlite3"
    env = dict(
        os.environ,
        IOTSEC_DATA_DIR=str(tmp_path),
        IOTSEC_DATABASE_URL=f"sqlite:///{db}",
        IOTSEC_LOG_DECISIONS="true",
        IOTSEC_DECIDE_PROCESSES="1",
    )
    proc = subprocess.Popen(
        [
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
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    recorded: list[str] = []
    lock = threading.Lock()
    enough = threading.Event()
    try:
        assert wait_healthy(f"http://127.0.0.1:{port}", proc, timeout=60), "the server did not start"
        assert wait_deciders(f"http://127.0.0.1:{port}", 1).get("ready") == 1, "no decider process came up"

        def client(k: int) -> None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            try:
                send(conn, k)
            finally:
                conn.close()

        def send(conn: http.client.HTTPConnection, k: int) -> None:
            for n in range(PER_CLIENT):
                body = json.dumps(
                    {"title": f"Security of smart irrigation gateways, part {k}-{n}", "reference": f"Y.kill-{k}-{n}"}
                )
                try:
                    conn.request("POST", "/v1/triage", body=body, headers={"content-type": "application/json"})
                    r = conn.getresponse()
                    payload = r.read()
                except (OSError, http.client.HTTPException):
                    return  # the server is gone
                if r.status == 200 and r.getheader("x-decision-log") == "recorded":
                    with lock:
                        recorded.append(json.loads(payload)["decision_id"])
                        if len(recorded) >= KILL_AFTER:
                            enough.set()

        threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(CLIENTS)]
        for t in threads:
            t.start()
        assert enough.wait(120), "too few answers before the kill"
        assert wait_deciders(f"http://127.0.0.1:{port}", 1, timeout=5).get("decided", 0) > 0, (
            "nothing decided in the decider"
        )
        os.killpg(proc.pid, signal.SIGKILL)  # mid-load: requests in flight, a batch perhaps half written
        proc.wait(30)
        for t in threads:
            t.join(60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)
    with lock:
        answered = set(recorded)
    assert len(answered) >= KILL_AFTER
    with sqlite3.connect(db) as conn:  # opening it recovers the WAL as SQLite does after a crash
        stored = {row[0] for row in conn.execute("SELECT decision_id FROM decisions")}
    assert not answered - stored, f"{len(answered - stored)} decisions answered 'recorded' are not in the database"
