"""The maintainers' commands through the command line: output, formats and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from api.cli import main

FIXTURES = """schema: iotsec-triage/fixtures@1
fixtures:
  - name: platform-access
    proposal: {title: "Zero-trust access control for IoT platforms"}
    expect: {home: SG20, rules: [precedent.platform-access-control]}
  - name: grid-expected-wrongly
    proposal: {title: "Security requirements for smart metering in the smart grid"}
    expect: {home: SG20, not_rules: [precedent.smart-grid]}
"""


def run(*args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(main, list(args), input=stdin, catch_exceptions=False)


@pytest.fixture(autouse=True)
def no_real_decision_log(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Point the decision log at an empty data directory, so a log on this machine is not read."""
    monkeypatch.setenv("IOTSEC_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("IOTSEC_DATABASE_URL", raising=False)


@pytest.fixture
def fixture_file(tmp_path: Path) -> Path:
    path = tmp_path / "fx.yaml"
    path.write_text(FIXTURES, encoding="utf-8")
    return path


def break_copy(rules_copy: Path) -> None:
    (rules_copy / "zz_broken.yaml").write_text(
        'schema: iotsec-triage/rules@1\nrules:\n  - id: zz.todo\n    description: TODO\n    source: "test"\n'
        "    stage: precedent\n    whn: {all: [security_item]}\n    then: {recommend: {home: SG17}}\n",
        encoding="utf-8",
    )


# ---------------------------------------------------------------- lint


def test_lint_bundled_rules_is_clean() -> None:
    result = run("rules", "lint")
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith(": clean")


def test_lint_findings_text(rules_copy: Path) -> None:
    break_copy(rules_copy)
    result = run("rules", "lint", str(rules_copy))
    assert result.exit_code == 1
    assert "zz_broken.yaml:7:5: [schema] rules.0.whn: unknown field 'whn'" in result.output
    assert "did you mean: 'when'" in result.output
    assert "zz_broken.yaml:3:5: [schema] rules.0.when: missing required field 'when'" in result.output
    assert "2 finding(s) (2 schema)" in result.output


def test_lint_semantic_findings_json(rules_copy: Path) -> None:
    text = (rules_copy / "precedents.yaml").read_text(encoding="utf-8")
    (rules_copy / "precedents.yaml").write_text(
        text.replace('source: "SG17 precedent: X.1330-X.1339 (docs/domain.md)."', 'source: "TBD"')
    )
    result = run("rules", "lint", str(rules_copy), "--format", "json")
    assert result.exit_code == 1
    data = json.loads(result.output)
    assert data["clean"] is False and data["counts"] == {"placeholder": 1}
    (finding,) = data["findings"]
    assert finding["file"].endswith("precedents.yaml") and finding["line"] > 1 and finding["hint"]


def test_lint_usage_errors() -> None:
    assert run("rules", "lint", "/nonexistent/rules").exit_code == 2
    assert run("rules", "lint", "--format", "xml").exit_code == 2


# ---------------------------------------------------------------- test


def test_rules_test_pass_fail_and_coverage(fixture_file: Path) -> None:
    result = run("rules", "test", "--fixtures", str(fixture_file))
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert "PASS  fx.yaml  platform-access" in lines
    assert "FAIL  fx.yaml  grid-expected-wrongly" in lines
    at = lines.index("FAIL  fx.yaml  grid-expected-wrongly")
    assert lines[at + 1].strip() == "home: expected SG20, got SG17"
    assert "rules that must not fire but did: precedent.smart-grid" in result.output
    assert "1 passed, 1 failed" in result.output
    coverage = lines[lines.index(next(line for line in lines if line.startswith("Coverage"))) + 1 :]
    counts = [int(line.split()[0]) for line in coverage]
    assert counts[0] == 0 and coverage[0].endswith("<- never fired")
    assert counts == sorted(counts)


def test_rules_test_json_and_all_passing(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text(FIXTURES.split("  - name: grid")[0], encoding="utf-8")
    result = run("rules", "test", "--fixtures", str(path), "--format", "json")
    assert result.exit_code == 0
    data = json.loads(result.output)
    assert data["passed"] == 1 and data["failed"] == 0
    assert data["never_fired"] and "precedent.platform-access-control" not in data["never_fired"]


def test_rules_test_broken_fixture_file_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(FIXTURES.replace("expect: {home: SG20, rules", "expect: {hme: SG20, rules"), encoding="utf-8")
    result = run("rules", "test", "--fixtures", str(path))
    assert result.exit_code == 2
    assert "bad.yaml:5:" in result.stderr


def test_rules_test_broken_rules_are_an_input_error(rules_copy: Path, fixture_file: Path) -> None:
    break_copy(rules_copy)
    result = run("rules", "test", str(rules_copy), "--fixtures", str(fixture_file))
    assert result.exit_code == 2 and "unknown field 'whn'" in result.stderr


# ---------------------------------------------------------------- explain


def test_explain_text_and_json(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"title": "Zero-trust access control for IoT platforms"}))
    text = run("explain", str(path), "--no-registry")
    assert text.exit_code == 0
    assert "Rules that fired" in text.output and "precedent.platform-access-control" in text.output
    data = json.loads(run("explain", str(path), "--no-registry", "--format", "json").output)
    assert data["decision"]["home"] in ("SG17", "SG20", "joint", "other", "undetermined")
    assert data["precedence"]["steps"]


def test_explain_stdin_and_input_errors(tmp_path: Path) -> None:
    assert run("explain", "-", "--no-registry", stdin='{"title": "Smart grid security"}').exit_code == 0
    two = tmp_path / "two.jsonl"
    two.write_text('{"title": "a"}\n{"title": "b"}\n')
    result = run("explain", str(two))
    assert result.exit_code == 2 and "exactly one proposal" in result.stderr
    bad = run("explain", "-", stdin='{"titel": "x"}')
    assert bad.exit_code == 2 and "titel" in bad.stderr


# ---------------------------------------------------------------- diff


def test_diff_text_lists_changes_and_summary(rules_copy: Path, fixture_file: Path, tmp_path: Path) -> None:
    from tests.engine.maintainer.test_diff import move_platform_rule_to_joint

    base = tmp_path / "base"
    base.mkdir()
    for f in rules_copy.glob("*.yaml"):
        (base / f.name).write_bytes(f.read_bytes())
    move_platform_rule_to_joint(rules_copy)
    corpus = tmp_path / "extra.jsonl"
    corpus.write_text(
        json.dumps({"id": "item-1", "proposal": {"title": "Access control for smart city IoT platforms"}})
        + "\n"
        + json.dumps({"title": "Smart grid security requirements"})
        + "\n"
    )
    result = run(
        "rules",
        "diff",
        "--base",
        str(base),
        "--rules",
        str(rules_copy),
        "--fixtures",
        str(fixture_file),
        "--corpus",
        str(corpus),
    )
    assert result.exit_code == 0, result.output
    out = result.output
    assert "modified: precedent.platform-access-control" in out
    assert "2 from fixtures, 2 from extra.jsonl = 4 proposals" in out
    assert "~ fx.yaml#platform-access" in out and "~ extra.jsonl:1 (item-1)" in out
    assert "fx.yaml#grid-expected-wrongly" not in out
    assert "-> joint:SG20" in out and "+JOINT_WORK" in out
    assert "decided by (working): precedent.platform-access-control (modified)" in out
    assert "SG20 -> joint:SG20" in out.split("Summary")[1]
    data = json.loads(
        run(
            "rules",
            "diff",
            "--base",
            str(base),
            "--rules",
            str(rules_copy),
            "--fixtures",
            str(fixture_file),
            "--format",
            "json",
        ).output
    )
    assert data["summary"]["changed"] == 1 and data["changes"][0]["working"]["home"] == "joint:SG20"


def test_diff_cannot_run(rules_copy: Path, fixture_file: Path, tmp_path: Path) -> None:
    result = run(
        "rules", "diff", "--base", "no-such-revision", "--rules", str(rules_copy), "--fixtures", str(fixture_file)
    )
    assert result.exit_code == 2 and "--base" in result.stderr
    broken = tmp_path / "broken"
    broken.mkdir()
    for f in rules_copy.glob("*.yaml"):
        (broken / f.name).write_bytes(f.read_bytes())
    break_copy(broken)
    result = run("rules", "diff", "--base", str(broken), "--rules", str(rules_copy), "--fixtures", str(fixture_file))
    assert result.exit_code == 2 and "whn" in result.stderr
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{nope\n")
    result = run(
        "rules",
        "diff",
        "--base",
        str(rules_copy),
        "--rules",
        str(rules_copy),
        "--fixtures",
        str(fixture_file),
        "--corpus",
        str(bad),
    )
    assert result.exit_code == 2 and "bad.jsonl:1" in result.stderr


def test_diff_reads_the_decision_log(rules_copy: Path, fixture_file: Path, tmp_path: Path) -> None:
    from api.decision_log import DecisionLog
    from api.runtime.settings import Settings
    from engine import Proposal, load_rules, triage
    from tests.engine.maintainer.test_diff import move_platform_rule_to_joint

    log = DecisionLog(Settings().resolved_database_url())
    proposal = Proposal(title="Zero-trust access control for IoT platforms", reference="Y.zt-logged")
    rs = load_rules(rules_copy)
    for _ in range(2):  # the same proposal twice counts once
        log.record(proposal, triage(proposal, rs), "test")
    rs.close()
    log.close()
    base = tmp_path / "base"
    base.mkdir()
    for f in rules_copy.glob("*.yaml"):
        (base / f.name).write_bytes(f.read_bytes())
    move_platform_rule_to_joint(rules_copy)
    args = ["rules", "diff", "--base", str(base), "--rules", str(rules_copy), "--fixtures", str(fixture_file)]
    out = run(*args).output
    assert "1 from decision log" in out and "~ log:Y.zt-logged" in out
    assert "decision log" not in run(*args, "--no-log").output
