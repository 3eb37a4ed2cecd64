"""Live reload under load: a good and a bad reload while a real server answers a steady stream.

The server is uvicorn on 127.0.0.1 in a thread; the stream is a few client threads with a
bounded number of requests each. Nothing here asserts on time: loops wait on counts, bounded.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from api.runtime.settings import Settings
from api.web.app import create_app
from tests.servers import free_port

TOKEN = "reload-admin-token-0123456789"
CLIENTS = 4
MAX_REQUESTS_PER_CLIENT = 250
PROPOSALS = [
    {"title": "Zero-trust access control for IoT platforms"},
    {"title": "Security requirements for smart metering in the smart grid"},
    {"title": "Lightweight mutual authentication protocol for constrained IoT devices"},
]


def wait_for(condition: Callable[[], bool], what: str, tries: int = 1000) -> None:
    """Poll a condition a bounded number of times (10 ms apart); fail saying what never happened."""
    for _ in range(tries):
        if condition():
            return
        time.sleep(0.01)
    raise AssertionError(f"never happened: {what}")


@pytest.fixture
def server(rules_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("IOTSEC_RULES_DIR", str(rules_copy))
    monkeypatch.setenv("IOTSEC_ADMIN_TOKEN", TOKEN)
    monkeypatch.setenv("IOTSEC_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("IOTSEC_DATABASE_URL", raising=False)
    app = create_app(Settings())
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=srv.run, name="uvicorn-test", daemon=True)
    thread.start()
    wait_for(lambda: srv.started or not thread.is_alive(), "the server started")
    assert srv.started, "the server did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(timeout=15)


class Stream:
    """CLIENTS threads posting proposals until stopped or MAX_REQUESTS_PER_CLIENT each."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.done = 0
        self.failures: list[str] = []
        self.revisions: set[str] = set()
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(CLIENTS)]

    def _run(self, index: int) -> None:
        with httpx.Client(base_url=self.base, timeout=30) as client:
            for n in range(MAX_REQUESTS_PER_CLIENT):
                if self.stop.is_set():
                    return
                try:
                    r = client.post("/v1/triage", json=PROPOSALS[(index + n) % len(PROPOSALS)])
                    outcome = r.status_code == 200 and r.json()["home"] != ""
                    problem = None if outcome else f"HTTP {r.status_code}: {r.text[:200]}"
                    revision = r.json()["ruleset"]["revision"] if outcome else None
                except httpx.HTTPError as exc:
                    problem, revision = f"{type(exc).__name__}: {exc}", None
                with self.lock:
                    self.done += 1
                    if problem:
                        self.failures.append(problem)
                    if revision:
                        self.revisions.add(revision)

    def __enter__(self) -> Stream:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=60)

    def running(self) -> bool:
        return any(t.is_alive() for t in self.threads)

    def advance(self, by: int, what: str) -> None:
        """Wait until `by` more requests have completed (the stream keeps going across a step)."""
        target = self.done + by
        wait_for(lambda: self.done >= target or not self.running(), what)
        assert self.done >= target, f"the stream ended before {what}"


def test_good_and_bad_reload_under_a_steady_stream(server: str, rules_copy: Path) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    precedents = rules_copy / "precedents.yaml"
    original = precedents.read_text(encoding="utf-8")
    with httpx.Client(base_url=server, timeout=30) as admin:
        first = admin.get("/v1/rules").json()
        assert first["last_failure"] is None
        with Stream(server) as stream:
            stream.advance(20, "requests before the first reload")

            # A good reload: a new revision replaces the old one.
            precedents.write_text(
                original.replace("is an SG17 series (X.1330-X.1339)", "is an SG17 series (X.1330 to X.1339)"),
                encoding="utf-8",
            )
            good = admin.post("/v1/rules/reload", headers=auth)
            assert good.status_code == 200, good.text
            assert good.json()["reloaded"] is True and good.json()["revision"] != first["revision"]
            second = good.json()["revision"]
            stream.advance(20, "requests after the good reload")

            # A bad reload: 422 with file:line, the second revision keeps serving.
            precedents.write_text(
                original.replace("    stage: precedent\n", "    stage: precedant\n", 1), encoding="utf-8"
            )
            bad = admin.post("/v1/rules/reload", headers=auth)
            assert bad.status_code == 422, bad.text
            detail = bad.json()["detail"]
            assert detail and all(d["file"].endswith("precedents.yaml") and d["line"] > 1 for d in detail)
            assert any(d["suggestion"] == "precedent" for d in detail)
            assert bad.json()["serving"]["revision"] == second
            status = admin.get("/v1/rules").json()
            assert status["revision"] == second and status["failed_reloads"] == 1
            assert status["last_failure"]["errors"][0]["line"] == detail[0]["line"]
            stream.advance(20, "requests after the bad reload")

            # Fixed: the next reload goes through again.
            precedents.write_text(original, encoding="utf-8")
            fixed = admin.post("/v1/rules/reload", headers=auth)
            assert fixed.status_code == 200 and fixed.json()["revision"] == first["revision"]
            stream.advance(20, "requests after the fix")
        assert stream.failures == []
        assert stream.done >= 80
        # Only rules that loaded ever answered: the first (= fixed) and the second revision.
        assert stream.revisions <= {first["revision"], second}
        final = admin.get("/v1/rules").json()
        assert final["revision"] == first["revision"] and final["reloads"] == 2
        assert final["last_failure"] is not None  # the failed attempt stays on record


def test_reload_needs_the_admin_token(server: str) -> None:
    with httpx.Client(base_url=server, timeout=30) as c:
        assert c.post("/v1/rules/reload").status_code == 401
        assert c.post("/v1/rules/reload", headers={"Authorization": "Bearer wrong-token-0123456789"}).status_code == 403
        assert c.post("/v1/rules/reload", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_reload_is_off_without_a_token(rules_copy: Path, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    settings = Settings(rules_dir=rules_copy, data_dir=tmp_path / "data", admin_token=None)
    with TestClient(create_app(settings)) as c:
        r = c.post("/v1/rules/reload", headers={"Authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 404 and "off" in r.text
