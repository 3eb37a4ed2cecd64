"""Operations: /metrics counts, graceful shutdown finishes the request in flight, IOTSEC_WORKERS runs
several workers, JSON logs from the real server, and a rule directory that disappears while serving."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from api.runtime.settings import Settings
from api.web.app import create_app
from tests.api.conftest import ADMIN
from tests.servers import free_port, wait_healthy

ROOT = Path(__file__).resolve().parents[3]
GOOD = {
    "title": "Security requirements for smart irrigation gateways",
    "summary": "Threats to irrigation controllers on farms and the security requirements of the service platform.",
}
AUTH = {"Authorization": f"Bearer {ADMIN}"}


def _samples(client: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }


def _value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


# -- metrics ---------------------------------------------------------------------------------------


def test_metrics_count_requests_latency_decisions_and_reloads(client: TestClient, rules_copy: Path) -> None:
    before = _samples(client)
    one = client.post("/v1/triage", json=GOOD).json()
    batch = client.post("/v1/triage/batch", json={"items": [GOOD, GOOD, {"no": "title"}]}).json()
    client.get("/v1/decisions/no-such-decision-1234", headers=AUTH)
    client.get("/a/path/nobody/routes/8f3a")
    client.post("/v1/rules/reload", headers=AUTH)
    client.post("/v1/rules/reload", headers={"Authorization": "Bearer wrong-token-0123456789"})
    client.app.state.runtime.holder.directory = rules_copy / "gone"  # type: ignore[attr-defined]
    client.post("/v1/rules/reload", headers=AUTH)
    after = _samples(client)

    def grew(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    assert grew("iotsec_http_requests_total", method="POST", route="/v1/triage", status="200") == 1
    assert grew("iotsec_http_requests_total", method="POST", route="/v1/triage/batch", status="200") == 1
    # Path parameters are counted under their template, unknown paths under one label.
    assert grew("iotsec_http_requests_total", method="GET", route="/v1/decisions/{decision_id}", status="404") == 1
    assert grew("iotsec_http_requests_total", method="GET", route="<unmatched>", status="404") == 1
    assert not any("8f3a" in str(labels) or "no-such" in str(labels) for _, labels in after)
    assert grew("iotsec_http_request_duration_seconds_count", method="POST", route="/v1/triage") == 1
    assert grew("iotsec_http_request_duration_seconds_bucket", method="POST", route="/v1/triage", le="+Inf") == 1
    assert grew("iotsec_http_request_duration_seconds_sum", method="POST", route="/v1/triage") > 0
    assert grew("iotsec_decisions_total", home=one["home"]) == 1 + sum(
        1 for r in batch["results"] if r["ok"] and r["decision"]["home"] == one["home"]
    )
    assert grew("iotsec_rule_reloads_total", result="succeeded") == 1
    assert grew("iotsec_rule_reloads_total", result="failed") == 1  # the refused token is not a reload


def test_a_body_refused_before_routing_is_counted_under_its_route(client: TestClient) -> None:
    before = _samples(client)
    client.post("/v1/triage/batch", content=b"x" * 11_000_000, headers={"content-type": "application/json"})
    after = _samples(client)
    labels = {"method": "POST", "route": "/v1/triage/batch", "status": "413"}
    assert (
        _value(after, "iotsec_http_requests_total", **labels) - _value(before, "iotsec_http_requests_total", **labels)
        == 1
    )


# -- the rule directory disappears -----------------------------------------------------------------


def test_a_vanished_rule_directory_keeps_the_loaded_rules_serving(rules_copy: Path, tmp_path: Path) -> None:
    settings = Settings(rules_dir=rules_copy, data_dir=tmp_path / "data", admin_token=ADMIN, log_decisions=False)  # type: ignore[arg-type]
    with TestClient(create_app(settings)) as c:
        first = c.post("/v1/triage", json=GOOD).json()
        shutil.rmtree(rules_copy)
        again = c.post("/v1/triage", json=GOOD)
        assert again.status_code == 200 and again.json()["home"] == first["home"]
        assert again.json()["ruleset"] == first["ruleset"]
        r = c.post("/v1/rules/reload", headers=AUTH)
        assert r.status_code == 422 and r.json()["reloaded"] is False
        assert r.json()["detail"][0]["msg"].endswith("rule directory not found")
        assert r.json()["serving"]["revision"] == first["ruleset"]["revision"]
        status = c.get("/v1/rules").json()
        assert status["revision"] == first["ruleset"]["revision"] and status["failed_reloads"] == 1
        assert c.post("/v1/triage/batch", json={"items": [GOOD]}).status_code == 200
        assert c.get("/healthz").json()["status"] == "ok"


# -- real servers -------------------------------------------------------------------------------------


class Served:
    """`iotsec-triage serve` on a free 127.0.0.1 port, its output (JSON log lines) in a file."""

    def __init__(self, tmp: Path, **env: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = tmp / f"serve-{self.port}.log"
        full = {k: v for k, v in os.environ.items() if not k.startswith(("IOTSEC_", "PROMETHEUS_"))}
        full.update({"IOTSEC_DATA_DIR": str(tmp / "data"), "IOTSEC_ADMIN_TOKEN": ADMIN}, **env)
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    "from api.cli import main; main()",
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                ],
                cwd=tmp,
                env=full,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_ready(self) -> None:
        if not wait_healthy(self.base, self.proc):
            pytest.fail(f"the server did not start: {self.log.read_text()[-2000:]}")

    def stop(self, signalled: bool = False) -> int:
        """SIGTERM (unless already sent: a second one means "force") and the exit status."""
        if not signalled and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)
            pytest.fail("the server did not stop within 20 s of SIGTERM")

    def records(self) -> list[dict[str, Any]]:
        lines = [ln for ln in self.log.read_text().splitlines() if ln.strip()]
        out = []
        for line in lines:
            try:
                out.append(json.loads(line))
            except ValueError:
                pytest.fail(f"a log line is not JSON: {line[:300]}")
        return out


@pytest.fixture
def served(tmp_path: Path) -> Iterator[list[Served]]:
    started: list[Served] = []
    yield started
    for s in started:
        if s.proc.poll() is None:
            os.killpg(s.proc.pid, signal.SIGKILL)
            s.proc.wait(timeout=10)


def test_sigterm_answers_every_request_already_received_and_exits_0(tmp_path: Path, served: list[Served]) -> None:
    server = Served(tmp_path, IOTSEC_LOG_DECISIONS="false")
    served.append(server)
    server.wait_ready()
    items = [dict(GOOD, reference=f"Y.shutdown-{i}") for i in range(1000)]
    answer: dict[str, Any] = {}
    outcomes: list[str] = []  # per keep-alive client request: "ok", "refused" (never received) or what failed
    lock = threading.Lock()
    stop = threading.Event()

    def send_batch() -> None:
        try:
            r = httpx.post(f"{server.base}/v1/triage/batch", json={"items": items}, timeout=60)
            answer.update(status=r.status_code, body=r.json())
        except httpx.HTTPError as exc:
            answer.update(error=repr(exc))

    def keep_alive_client(n: int) -> None:
        # One connection reused request after request, as a load balancer or a busy client does.
        with httpx.Client(base_url=server.base, timeout=30) as c:
            for i in range(2000):  # bounded; ends at the first refused connection
                try:
                    r = c.post("/v1/triage", json=dict(GOOD, reference=f"Y.ka-{n}-{i}"))
                    outcome = "ok" if r.status_code == 200 else f"status {r.status_code}"
                except httpx.ConnectError:
                    outcome = "refused"  # a new connection after the listener closed: never received
                except httpx.HTTPError as exc:
                    outcome = f"{type(exc).__name__}: {exc}"
                with lock:
                    outcomes.append(outcome)
                if outcome != "ok" or stop.is_set() and i > 10_000:
                    return

    sender = threading.Thread(target=send_batch)
    clients = [threading.Thread(target=keep_alive_client, args=(n,)) for n in range(8)]
    sender.start()
    for t in clients:
        t.start()
    # Deciding runs in worker threads: health checks keep answering while the batch is decided.
    for _ in range(100):
        assert httpx.get(f"{server.base}/healthz", timeout=5).status_code == 200
        with lock:
            if outcomes.count("ok") >= 40:
                break
        time.sleep(0.02)
    assert not answer, "the batch finished before the signal: make it larger"
    server.proc.send_signal(signal.SIGTERM)
    sender.join(timeout=60)
    for t in clients:
        t.join(timeout=60)
    stop.set()
    assert answer.get("status") == 200, str(answer)[:300]
    assert len(answer["body"]["results"]) == 1000 and all(r["ok"] for r in answer["body"]["results"])
    failed = [o for o in outcomes if o not in ("ok", "refused")]
    assert not failed, failed[:5]
    assert outcomes.count("ok") >= 40 and outcomes.count("refused") == len(clients)
    assert server.stop(signalled=True) == 0
    records = server.records()
    shutting = next(i for i, r in enumerate(records) if "Shutting down" in r["msg"])
    batch_line = next(i for i, r in enumerate(records) if r.get("route") == "/v1/triage/batch")
    assert batch_line > shutting, "the batch was answered before the signal, not during the drain"
    assert records[batch_line]["status"] == 200
    ids = records[batch_line]["decision_ids"]
    assert ids[0] == answer["body"]["results"][0]["decision"]["decision_id"]
    assert ADMIN not in server.log.read_text()


def _raw_request(port: int, head: bytes, body_part: bytes, wait: float) -> bytes:
    """Send a request whose body stops short, then read what the server answers (bounded)."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as sock:
        sock.sendall(head + body_part)
        chunks = []
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        except TimeoutError:
            pass
        return b"".join(chunks)


@pytest.mark.parametrize("ctype", ["application/json", "text/plain"])
def test_a_body_that_does_not_arrive_in_time_is_a_408_and_the_connection_closes(
    tmp_path: Path, served: list[Served], ctype: str
) -> None:
    server = Served(tmp_path, IOTSEC_LOG_DECISIONS="false", IOTSEC_BODY_TIMEOUT_SECONDS="1")
    served.append(server)
    server.wait_ready()
    path = "/v1/triage" if ctype == "application/json" else "/v1/triage/text"
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {ctype}\r\nContent-Length: 500\r\n\r\n").encode()
    raw = _raw_request(server.port, head, b'{"title": "half a bo', wait=10)
    assert raw.startswith(b"HTTP/1.1 408"), raw[:200]
    assert b"body_timeout" in raw and b"within 1 seconds" in raw
    assert b"connection: close" in raw.lower(), raw.decode()
    assert httpx.get(f"{server.base}/healthz", timeout=5).status_code == 200
    assert server.stop() == 0


def _children(pid: int) -> list[str]:
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid:
            out.append(cmd)
    return out


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="counts worker processes through /proc")
def test_iotsec_workers_runs_two_workers_sharing_one_log_and_metrics(tmp_path: Path, served: list[Served]) -> None:
    server = Served(tmp_path, IOTSEC_WORKERS="2", IOTSEC_STAFF_TOKEN="staff-token-for-tests-0123456789")
    served.append(server)
    server.wait_ready()
    workers = [c for c in _children(server.proc.pid) if "spawn_main" in c and "resource_tracker" not in c]
    assert len(workers) == 2, _children(server.proc.pid)
    pids: set[str] = set()
    for i in range(12):  # a new connection each time, so the kernel hands them to either worker
        r = httpx.post(f"{server.base}/v1/triage", json=dict(GOOD, reference=f"Y.workers-{i}"), timeout=30)
        assert r.status_code == 200 and r.headers["x-decision-log"] == "recorded"
    stored = httpx.get(
        f"{server.base}/v1/decisions?limit=1",
        headers={"Authorization": "Bearer staff-token-for-tests-0123456789"},
        timeout=30,
    ).json()
    assert stored["total"] == 12
    # PROMETHEUS_MULTIPROC_DIR is set by `serve` for several workers: /metrics adds theirs up.
    with httpx.Client(base_url=server.base, timeout=30) as metrics_client:
        samples = _samples(metrics_client)
    assert _value(samples, "iotsec_http_requests_total", method="POST", route="/v1/triage", status="200") == 12
    assert server.stop() == 0
    for record in server.records():
        if record.get("logger") == "iotsec_triage.access":
            pids.add(record["request_id"].split("-")[0])
    assert pids and len(pids) <= 2
