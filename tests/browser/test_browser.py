"""Headless Debian Chromium, driven by Playwright, on the real app served by uvicorn.

A submitter pastes an A.1 text or uploads a .docx and reads the answer (on a laptop and on a
390 px phone); a staff member logs in to a queue of 500 decisions (time to first paint printed,
not asserted), opens a detail, overrides it, confirms in bulk and exports the CSV.
Screenshots go to artifacts/ (git-ignored).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api._db import missing
from tests.engine.intake.test_a1text import FULL
from tests.servers import free_port, wait_healthy

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
STAFF = "staff-token-for-browser-0123456789"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real app under uvicorn on 127.0.0.1, a temporary data directory and a staff token."""
    data = tmp_path_factory.mktemp("browser-data")
    port = free_port()
    env = dict(os.environ, IOTSEC_DATA_DIR=str(data), IOTSEC_STAFF_TOKEN=STAFF)
    env.pop("IOTSEC_DATABASE_URL", None)
    log = (data / "server.log").open("wb")
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
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        if not wait_healthy(base, proc):
            pytest.fail(f"the server did not answer /healthz: {(data / 'server.log').read_text()[-2000:]}")
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)
        log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("the playwright package is not installed (pip install -e '.[test]')")
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        missing(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1366, "height": 900}, java_script_enabled=False)
    pg = context.new_page()
    pg.set_default_timeout(15_000)
    yield pg
    context.close()


def test_submitter_pastes_an_a1_text_and_reads_the_result(server: str, page: Any) -> None:
    page.goto(server + "/")
    page.get_by_label("A.1 justification").fill(FULL)
    page.get_by_role("button", name="Check the text").click()
    page.wait_for_selector("#result-home")
    home = page.locator("#result-home").inner_text()
    assert any(h in home for h in ("SG17", "SG20", "Joint work"))
    assert "Read from your text: title, reference, questions" in page.locator("#found-fields").inner_text()
    assert page.get_by_role("heading", name="Why").is_visible()
    assert not page.locator("#result-reasons").is_visible()  # every rule that fired: folded under the details
    assert page.locator("#result-why li").count() >= 1 and page.locator("#result-why mark").count() >= 1
    assert page.locator("#permalink").count() == 1
    page.screenshot(path=str(ARTIFACTS / "submitter-result.png"), full_page=True)
    # The stable link: what was sent and the answer.
    page.locator("#permalink").click()
    page.wait_for_selector("#sent")
    assert page.locator("#result-home").inner_text() == home
    page.screenshot(path=str(ARTIFACTS / "submitter-permalink.png"), full_page=True)


def test_the_answer_fits_a_390px_phone(server: str, browser: Any) -> None:
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, device_scale_factor=2, java_script_enabled=False
    )
    pg = context.new_page()
    pg.set_default_timeout(15_000)
    try:
        pg.goto(server + "/")
        pg.get_by_label("A.1 justification").fill(FULL)
        pg.get_by_role("button", name="Check the text").click()
        pg.wait_for_selector("#result-home")
        width = pg.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the page is {width} px wide on a 390 px screen"
        pg.screenshot(path=str(ARTIFACTS / "submitter-result-390px.png"), full_page=True)
    finally:
        context.close()


def test_submitter_uploads_a_docx_and_reads_the_answer(server: str, page: Any, tmp_path: Path) -> None:
    from tests.engine.intake.test_files import a1_docx

    docx = tmp_path / "C-123.docx"
    docx.write_bytes(a1_docx())
    page.goto(server + "/")
    page.get_by_label("Contribution or batch").set_input_files(str(docx))
    page.get_by_role("button", name="Check the file").click()
    page.wait_for_selector("#result-home")
    assert "C-123.docx" in page.content()
    assert "Read from your text: title, reference, questions" in page.locator("#found-fields").inner_text()
    page.locator("#result-details summary").click()
    assert "Security requirements for smart irrigation gateways" in page.locator("#values-read").inner_text()
    page.screenshot(path=str(ARTIFACTS / "submitter-docx.png"), full_page=True)


def _post(server: str, path: str, body: bytes) -> Any:
    import json

    req = urllib.request.Request(server + path, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        assert r.status == 200
        return json.loads(r.read())


def test_staff_work_a_queue_of_500_decisions(server: str, page: Any) -> None:
    import json

    topics = [
        "smart irrigation gateways",
        "PKI for constrained devices",
        "smart parking sensors",
        "home network firewalls",
        "vehicle-to-everything messages",
        "smart meters",
        "e-health wearables",
        "digital twins of buildings",
        "identity federation for IoT platforms",
        "blockchain of things",
        "oneM2M security",
        "drone telemetry",
    ]
    items = [
        {"title": f"Security requirements for {topics[i % len(topics)]}, study {i}", "reference": f"Y.q{i % 40}"}
        for i in range(500)
    ]
    _post(server, "/v1/triage/batch", json.dumps({"items": items}).encode())
    target = _post(
        server,
        "/v1/triage",
        b'{"title": "Security of smart parking sensors in city platforms", "reference": "Y.park-sec"}',
    )

    page.goto(server + "/queue")
    assert page.url.endswith("/login")
    page.get_by_label("Your name").fill("Ana Staff")
    page.get_by_label("Staff token").fill(STAFF)
    started = time.monotonic()
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/queue")
    page.wait_for_selector("#counts")
    print(
        f"\nqueue of {len(items) + 1} decisions: first page painted {1000 * (time.monotonic() - started):.0f} ms "
        "after login"
    )
    counts = page.locator("#counts").inner_text()
    assert int(counts.split()[0]) >= 501 and "1-50 shown" in counts  # the other tests' decisions are open too
    assert page.locator("tbody tr[id^=d-]").count() == 50
    page.screenshot(path=str(ARTIFACTS / "staff-queue.png"), full_page=False)

    # Open the detail of one decision and override it.
    page.goto(server + f"/queue/{target['decision_id']}")
    assert page.locator("#sent").is_visible() and page.locator("#detail-deciding li").count() >= 1
    page.get_by_label("Home").select_option("joint")
    page.get_by_label("Lead").select_option("SG20")
    page.get_by_label("Questions").fill("Q6/20, Q6/17")
    page.get_by_label("Reason").fill("Agreed at the JCG-IoTSec meeting")
    page.get_by_role("button", name="Override").click()
    page.wait_for_selector("#done")
    page.goto(server + f"/queue/{target['decision_id']}")
    assert "joint:SG20" in page.locator("#detail-stands").inner_text()
    assert "Agreed at the JCG-IoTSec meeting" in page.locator("#history").inner_text()
    page.screenshot(path=str(ARTIFACTS / "staff-detail-override.png"), full_page=True)
    again = _post(
        server,
        "/v1/triage",
        b'{"title": "Security of smart parking sensors in city platforms", "reference": "Y.park-sec"}',
    )
    assert (again["home"], again["lead"], again["reviewed"]) == ("joint", "SG20", True) and "reason" not in again[
        "review"
    ]

    # Bulk confirm the first three rows of the open queue.
    page.goto(server + "/queue")
    boxes = page.locator("input[name=ids]")
    chosen = [boxes.nth(i).get_attribute("value") for i in range(3)]
    for i in range(3):
        boxes.nth(i).check()
    page.get_by_role("button", name="Confirm selected").click()
    page.wait_for_selector("#done")
    assert "3 confirmed" in page.locator("#done").inner_text()
    assert all(page.locator(f"#d-{c}").count() == 0 for c in chosen)  # no longer open
    page.screenshot(path=str(ARTIFACTS / "staff-bulk-confirmed.png"), full_page=False)

    # The CSV export with the session (no Bearer header).
    page.goto(server + "/queue?status=confirmed")
    with page.expect_download() as info:
        page.locator("#csv-export").click()
    text = Path(info.value.path()).read_text(encoding="utf-8")
    assert text.startswith("decision_id,") and all(c in text for c in chosen)
