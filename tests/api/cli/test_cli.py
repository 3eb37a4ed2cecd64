"""The command line: triage (JSON, JSON Lines, stdin, table), eval, and its exit codes."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from api.cli import main

V2X = {"title": "Message authentication for V2X broadcasts"}


def test_triage_one_json_file(tmp_path: Path) -> None:
    f = tmp_path / "p.json"
    f.write_text(json.dumps(V2X, indent=2))
    r = CliRunner().invoke(main, ["triage", "--no-registry", str(f)])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["home"] == "SG17" and d["questions"][0] == "Q13/17"


def test_triage_jsonl_from_stdin_with_a_bad_line() -> None:
    lines = "\n".join([json.dumps(V2X), "{broken", json.dumps({"summary": "no title"}), json.dumps(V2X)])
    r = CliRunner().invoke(main, ["triage", "--no-registry", "-"], input=lines)
    assert r.exit_code == 2
    out = [json.loads(x) for x in r.stdout.splitlines()]
    assert [("home" in o) for o in out] == [True, False, False, True]
    assert out[1]["where"] == "<stdin>:2" and "invalid JSON" in out[1]["error"]
    assert "title" in out[2]["error"]


def test_triage_table_format() -> None:
    r = CliRunner().invoke(main, ["triage", "--format", "table", "--no-registry", "-"], input=json.dumps(V2X))
    assert r.exit_code == 0
    assert "precedent.its-vehicle" in r.output and "SG17" in r.output


def test_eval_reports_accuracy_confusion_and_misses(tmp_path: Path) -> None:
    f = tmp_path / "items.jsonl"
    f.write_text(
        "\n".join(
            json.dumps(x)
            for x in [
                {"id": "a", "accept": ["SG17"], "proposal": V2X},
                {"id": "b", "accept": ["other:SG11"], "proposal": V2X},
            ]
        )
    )
    r = CliRunner().invoke(main, ["eval", "--no-registry", str(f)])
    assert r.exit_code == 0, r.output
    assert "accuracy        1/2 = 0.500" in r.output and "review load" in r.output
    assert "MISS b: expected other:SG11, got SG17" in r.output and "precedent.its-vehicle" in r.output


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert CliRunner().invoke(main, ["triage", str(tmp_path / "missing.json")]).exit_code == 2
    assert CliRunner().invoke(main, ["triage", "--format", "xml", "-"]).exit_code == 2
    broken = tmp_path / "rules"
    broken.mkdir()
    r = CliRunner().invoke(main, ["triage", "--rules", str(broken), "-"], input=json.dumps(V2X))
    assert r.exit_code == 2 and "catalogue" in r.output
