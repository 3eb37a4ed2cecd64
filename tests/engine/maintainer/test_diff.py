"""`rules diff`: the proposals a rule change moves, with the rules responsible on each side."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from engine import InputError, Proposal, RuleSet, load_rules
from engine.maintainer.diff import base_directory, diff, jsonl_corpus, rules_from_git

PLATFORM = Proposal(
    title="Zero-trust access control for IoT platforms",
    summary="Attribute based access control for IoT service platforms.",
)
GRID = Proposal(title="Security requirements for smart metering in the smart grid")


def move_platform_rule_to_joint(rules_dir: Path) -> None:
    """The worked example of rules/README.md: precedent.platform-access-control -> joint work."""
    path = rules_dir / "precedents.yaml"
    text = path.read_text(encoding="utf-8")
    start = text.index("id: precedent.platform-access-control")
    old = "recommend: {home: SG20, weight: 3}"
    at = text.index(old, start)
    path.write_text(
        text[:at] + "recommend: {home: joint, lead: SG20, weight: 3}" + text[at + len(old) :], encoding="utf-8"
    )


def test_a_moved_rule_lists_the_proposals_it_moves(ruleset: RuleSet, rules_copy: Path) -> None:
    move_platform_rule_to_joint(rules_copy)
    working = load_rules(rules_copy)
    report = diff(ruleset, working, [("a", PLATFORM), ("b", GRID)], {"test": 2})
    assert report.rule_changes["modified"] == ["precedent.platform-access-control"]
    assert report.rule_changes["added"] == report.rule_changes["removed"] == []
    assert report.total == 2
    (change,) = report.changes
    assert change.source == "a" and change.base["home"] == "SG20" and change.working["home"] == "joint:SG20"
    assert "home" in change.changed
    # The zero-trust hot spot fires a joint trigger: JOINT_WORK is raised on both sides (the base
    # says the home stays with the platform precedent; the working rules make it the home).
    assert "JOINT_WORK" in change.working["flags"] and "JOINT_WORK" in change.base["flags"]
    assert change.base_deciding == change.working_deciding == ["precedent.platform-access-control"]
    summary = report.summary()
    assert summary["changed"] == 1 and summary["home_moves"] == {"SG20 -> joint:SG20": 1}
    assert summary["flag_changes"].get("+JOINT_WORK") is None  # raised on both sides (joint trigger)
    assert json.loads(json.dumps(report.as_dict()))["summary"]["unchanged"] == 1
    working.close()


def test_identical_rules_change_nothing(ruleset: RuleSet, rules_copy: Path) -> None:
    working = load_rules(rules_copy)
    report = diff(ruleset, working, [("a", PLATFORM), ("b", GRID)], {"test": 2})
    assert report.changes == [] and all(not v for v in report.rule_changes.values())
    working.close()


def test_rules_responsible_when_a_rule_is_disabled(ruleset: RuleSet, rules_copy: Path) -> None:
    path = rules_copy / "precedents.yaml"
    text = path.read_text(encoding="utf-8")
    at = text.index("stage: precedent", text.index("id: precedent.platform-access-control"))
    path.write_text(text[:at] + "enabled: false\n    " + text[at:], encoding="utf-8")
    working = load_rules(rules_copy)
    (change,) = diff(ruleset, working, [("a", PLATFORM)], {"test": 1}).changes
    assert change.only_base == ["precedent.platform-access-control"]
    assert change.working_deciding and "precedent.platform-access-control" not in change.working_deciding
    working.close()


def test_jsonl_corpus_takes_proposals_and_wrapped_proposals(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text(
        json.dumps({"title": "A"})
        + "\n\n"
        + json.dumps({"id": "x1", "accept": ["SG17"], "proposal": {"title": "B"}})
        + "\n"
    )
    items = jsonl_corpus(path)
    assert [(w, p.title) for w, p in items] == [("c.jsonl:1", "A"), ("c.jsonl:3 (x1)", "B")]


@pytest.mark.parametrize(
    "line, words", [("{nope", "c.jsonl:1: invalid JSON"), ('{"summary": "no title"}', "c.jsonl:1: title")]
)
def test_jsonl_corpus_errors_say_where(tmp_path: Path, line: str, words: str) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text(line + "\n")
    with pytest.raises(InputError) as info:
        jsonl_corpus(path)
    assert str(info.value).startswith(words)


def test_base_from_a_directory(tmp_path: Path, rules_copy: Path) -> None:
    assert base_directory(str(rules_copy), rules_copy, tmp_path) == (rules_copy, str(rules_copy))


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_base_from_a_git_revision(tmp_path: Path, rules_copy: Path) -> None:
    # A throwaway repository in tmp_path, never the project's own.
    repo = tmp_path / "repo"
    shutil.copytree(rules_copy, repo / "rules")
    env_args = ["-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c", "commit.gpgsign=false"]
    for args in (["init", "-q"], ["add", "rules"], [*env_args, "commit", "-q", "-m", "base"]):
        subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, timeout=30)
    move_platform_rule_to_joint(repo / "rules")
    out = rules_from_git("HEAD", repo / "rules", tmp_path / "base")
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in (repo / "rules").glob("*.yaml"))
    assert (out / "precedents.yaml").read_text() == (rules_copy / "precedents.yaml").read_text()
    with pytest.raises(InputError, match="git"):
        rules_from_git("no-such-rev", repo / "rules", tmp_path / "bad")
    with pytest.raises(InputError, match="not a git revision"):
        rules_from_git("--output=x", repo / "rules", tmp_path / "bad")


def test_an_installed_tool_compares_the_rules_of_the_repository_it_is_run_in(rules_copy: Path, tmp_path: Path) -> None:
    """Installed (not editable), the bundled rules sit outside any git checkout: `rules diff --base
    HEAD` then reads the rules/ of the repository of the working directory."""
    from engine.maintainer.diff import default_rules, in_git_checkout

    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    installed = tmp_path / "site-packages" / "rules"
    shutil.copytree(rules_copy, installed)
    repo = tmp_path / "rule-repo"
    shutil.copytree(rules_copy, repo / "rules")
    env = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.org",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.org",
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
    }
    for args in (["init", "-q"], ["add", "rules"], ["commit", "-qm", "rules"]):
        subprocess.run(["git", "-C", str(repo), *args], check=True, env=env, capture_output=True)
    assert not in_git_checkout(installed)
    working = default_rules(installed, repo / "rules")  # run from a subfolder of the repository
    assert working == repo / "rules"
    base, name = base_directory("HEAD", working, tmp_path / "scratch")
    assert name == "HEAD (git)" and sorted(p.name for p in base.glob("*.yaml")) == sorted(
        p.name for p in working.glob("*.yaml")
    )
    assert default_rules(installed, tmp_path) == installed  # outside any repository: the bundled rules
