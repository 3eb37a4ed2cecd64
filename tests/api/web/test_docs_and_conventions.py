"""Offline API docs with the bearer scheme declared; /v1/rules in ISO 8601 with the last reload's
outcome; `serve` on a busy port exits 2; the session's CSV export; one home notation on pages."""

from __future__ import annotations

import re
import socket
from pathlib import Path

from click.testing import CliRunner
from fastapi.testclient import TestClient

from tests.api.conftest import ADMIN


def test_docs_and_redoc_load_only_local_assets(client: TestClient) -> None:
    for path in ("/docs", "/redoc"):
        page = client.get(path)
        assert page.status_code == 200
        refs = re.findall(r'(?:src|href)="([^"]+)"', page.text) + re.findall(r"url: '([^']+)'", page.text)
        assert refs and all(ref.startswith("/") for ref in refs), refs
        assert "cdn" not in page.text.lower() and "fonts.googleapis" not in page.text
        for ref in refs:
            assert client.get(ref).status_code == 200, ref


def test_openapi_declares_the_bearer_scheme_on_staff_and_admin_routes(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    schemes = doc["components"]["securitySchemes"]
    assert {s["scheme"] for s in schemes.values()} == {"bearer"}
    assert doc["paths"]["/v1/decisions"]["get"]["security"] and doc["paths"]["/v1/rules/reload"]["post"]["security"]
    assert "security" not in doc["paths"]["/v1/triage"]["post"]
    assert client.get("/v1/decisions").json()["detail"][0]["type"] == "unauthorized"  # still the one error shape


def test_rules_status_is_iso_8601_and_says_how_the_last_reload_went(client: TestClient, rules_copy: Path) -> None:
    status = client.get("/v1/rules").json()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", status["loaded_at"]) and isinstance(
        status["loaded_at_epoch"], float
    )
    assert status["last_reload"] is None
    holder = client.app.state.runtime.holder  # type: ignore[attr-defined]
    good_dir = holder.directory
    (rules_copy / "precedents.yaml").write_text("schema: iotsec-triage/rules@1\nrules: [{id: x}]\n", encoding="utf-8")
    auth = {"Authorization": f"Bearer {ADMIN}"}
    holder.directory = rules_copy
    assert client.post("/v1/rules/reload", headers=auth).status_code == 422
    failed = client.get("/v1/rules").json()
    assert failed["last_reload"]["ok"] is False and failed["last_failure"]["at"].endswith("Z")
    holder.directory = good_dir
    assert client.post("/v1/rules/reload", headers=auth).status_code == 200
    assert client.get("/v1/rules").json()["last_reload"]["ok"] is True


def test_serve_on_a_busy_port_exits_2_saying_so() -> None:
    from api.cli import main

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        r = CliRunner().invoke(main, ["serve", "--host", "127.0.0.1", "--port", str(port)])
    assert r.exit_code == 2 and f"127.0.0.1:{port}" in r.output and "--port" in r.output


def test_the_queue_csv_link_works_with_the_staff_session(client: TestClient) -> None:
    from tests.api.web.test_pages import csrf

    client.post("/v1/triage", json={"title": "Security requirements for smart irrigation gateways"})
    page = client.get("/login")
    client.post("/login", data={"csrf": csrf(page.text), "token": "staff-token-for-tests-0123456789", "name": "A"})
    queue = client.get("/queue")
    link = re.search(r'id="csv-export" href="([^"]+)"', queue.text)
    assert link
    export = client.get(link.group(1).replace("&amp;", "&"))
    assert export.status_code == 200 and export.text.startswith("decision_id,")
    assert "joint:" in queue.text or "SG" in queue.text
    assert ">None<" not in queue.text


def test_make_run_makes_and_prints_both_tokens() -> None:
    import shutil
    import subprocess

    import pytest

    root = Path(__file__).resolve().parents[3]
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    # -n prints the recipe without running it (nor the install it depends on).
    done = subprocess.run(
        ["make", "-n", "-W", "pyproject.toml", "run"], cwd=root, capture_output=True, text=True, timeout=60
    )
    recipe = done.stdout[done.stdout.find("staff=") :]
    assert "IOTSEC_ADMIN_TOKEN=" in recipe and "admin token" in recipe and "staff token" in recipe
