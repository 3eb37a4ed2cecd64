"""The command line over what staff receive: {id, proposal} lines, pretty-printed JSON, empty files,
unknown fields, .docx/.xlsx/CSV files and folders (one bad file stops nothing), ids in every output,
and decision ids that are logged and the same as the service's."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from fastapi.testclient import TestClient

from api.cli import main
from tests.engine.intake.test_files import a1_docx, items_xlsx

V2X = {"title": "Message authentication for V2X broadcasts"}


def run(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    r = CliRunner().invoke(main, list(args), input=stdin, catch_exceptions=False)
    return r.exit_code, r.stdout, r.stderr


def test_triage_takes_id_and_proposal_lines_and_shows_the_id() -> None:
    code, out, _ = run("triage", "--no-registry", "-", stdin=json.dumps({"id": "C-7", "proposal": V2X}))
    assert code == 0
    line = json.loads(out)
    assert line["id"] == "C-7" and line["home"] == "SG17"
    code, out, _ = run(
        "triage", "--no-registry", "--format", "table", "-", stdin=json.dumps({"id": "C-7", "proposal": V2X})
    )
    assert code == 0 and "(C-7)" in out


def test_bad_pretty_printed_json_is_located_and_an_empty_file_is_an_error(tmp_path: Path) -> None:
    pretty = tmp_path / "p.json"
    pretty.write_text('{\n  "title": "Smart meter security",\n  "summary": "x"\n  "scope": "y"\n}\n')
    code, _, err = run("triage", "--no-registry", str(pretty))
    assert code == 2 and f"{pretty}:4" in err
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    code, _, err = run("triage", "--no-registry", str(empty))
    assert code == 2 and "empty" in err


def test_unknown_fields_get_the_known_ones_and_a_suggestion() -> None:
    code, _, err = run("triage", "--no-registry", "-", stdin=json.dumps({"title": "T", "sumary": "x"}))
    assert code == 2 and "did you mean 'summary'" in err and "known fields: title, summary" in err


def test_triage_and_batch_over_a_folder_of_received_files(tmp_path: Path) -> None:
    folder = tmp_path / "inbox"
    folder.mkdir()
    (folder / "C-123.docx").write_bytes(a1_docx())
    (folder / "items.xlsx").write_bytes(items_xlsx())
    (folder / "broken.docx").write_bytes(b"not a zip")
    (folder / "more.csv").write_text("\ufeffNo;Title\nC-9;Smart meter security\n", encoding="utf-8")
    (folder / "notes.md").write_text("not read")
    code, out, err = run("triage", "--no-registry", "--format", "table", str(folder))
    assert code == 2  # one bad file: said, and the rest decided
    assert "broken.docx: not a readable .docx file" in err
    assert "C-123.docx:1" in out and "(C-0042)" in out and "(43)" in out and "(C-9)" in out
    code, out, err = run("batch", "--no-registry", str(folder))
    assert code == 2 and "broken.docx" in err
    assert "(C-0042)" in out and "(C-9)" in out and "items 5: decided 4" in out


def test_the_cli_logs_its_decisions_with_the_id_the_service_gives(tmp_path: Path) -> None:
    from api.runtime.settings import Settings
    from api.web.app import create_app

    code, out, _ = run("triage", "--no-registry", "-", stdin=json.dumps(V2X))
    assert code == 0
    cli_id = json.loads(out)["decision_id"]
    with TestClient(
        create_app(Settings(staff_token="staff-token-for-cli-0123456789"))
    ) as c:  # the same IOTSEC_DATA_DIR
        served = c.post("/v1/triage?registry=false", json=V2X)
        assert served.json()["decision_id"] == cli_id and served.headers["x-decision-log"] == "existing"
        logged = c.get(
            f"/v1/decisions/{cli_id}", headers={"Authorization": "Bearer staff-token-for-cli-0123456789"}
        ).json()
        assert logged["actor"] == "cli"
    code, out, _ = run("triage", "--no-registry", "--no-log", "-", stdin=json.dumps(dict(V2X, summary="not logged")))
    assert code == 0 and json.loads(out)["decision_id"]
