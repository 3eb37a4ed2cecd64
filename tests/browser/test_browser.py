"""Headless Debian Chromium, driven by Playwright, on the real app served by uvicorn.

A submitter pastes an A.1 text and reads the result; a staff member overrides a decision and
sees it stick after a reload. Screenshots go to artifacts/ (git-ignored).
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.api._db import missing
from tests.engine.intake.test_a1text import FULL

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]
STAFF = "staff-token-for-browser-0123456789"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real app under uvicorn on 127.0.0.1, a temporary data directory and a staff token."""
    data = tmp_path_factory.mktemp("browser-data")
    port = _free_port()
    env = dict(os.environ, IOTSEC_DATA_DIR=str(data), IOTSEC_STAFF_TOKEN=STAFF)
    env.pop("IOTSEC_DATABASE_URL", None)
    log = (data / "server.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "api.web.main:app", "--host", "127.0.0.1", "--port", str(port),
                             "--log-level", "warning"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):  # bounded: at most ~30 s to start
            if proc.poll() is not None:
                break
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("the server did not answer /healthz")
        if proc.poll() is not None:
            pytest.fail(f"the server exited: {(data / 'server.log').read_text()[-2000:]}")
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
    assert page.locator("#result-reasons li").count() >= 1
    assert page.get_by_role("heading", name="Reasons").is_visible()
    page.screenshot(path=str(ARTIFACTS / "submitter-result.png"), full_page=True)


def test_staff_overrides_a_decision_and_it_sticks_after_reload(server: str, page: Any) -> None:
    # A contribution arrives through the API, as a batch or a submitter would send it.
    body = b'{"title": "Security of smart parking sensors in city platforms", "reference": "Y.park-sec"}'
    req = urllib.request.Request(server + "/v1/triage", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 200
    page.goto(server + "/queue")
    assert page.url.endswith("/login")
    page.get_by_label("Your name").fill("Ana Staff")
    page.get_by_label("Staff token").fill(STAFF)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/queue")
    row = page.locator("tr", has_text="Y.park-sec")
    row.get_by_label("Home").select_option("joint")
    row.get_by_label("Lead").select_option("SG20")
    row.get_by_label("Questions").fill("Q6/20, Q6/17")
    row.get_by_label("Reason").fill("Agreed at the JCG-IoTSec meeting")
    row.get_by_role("button", name="Override").click()
    page.wait_for_selector("#done")
    assert page.locator("#f-home").input_value() == ""  # the review's fields did not become filters
    page.reload()
    row = page.locator("tr", has_text="Y.park-sec")
    stands = row.locator("td.stands").inner_text()
    assert "OVERRIDDEN" in stands.upper() and "joint" in stands and "SG20" in stands
    assert "Agreed at the JCG-IoTSec meeting" in stands
    page.screenshot(path=str(ARTIFACTS / "staff-queue-override.png"), full_page=True)
    # The same contribution triaged again: the person's decision comes back.
    with urllib.request.urlopen(urllib.request.Request(server + "/v1/triage", data=body,
                                                       headers={"Content-Type": "application/json"}), timeout=10) as r:
        import json

        again = json.loads(r.read())
    assert (again["home"], again["lead"], again["reviewed"]) == ("joint", "SG20", True)
