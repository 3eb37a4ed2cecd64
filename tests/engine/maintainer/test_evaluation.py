"""Evaluation: leave-one-out over the bundled registry's titles against the floor kept in the
repository, own-number stripping, the labelled-file reader, and the eval command's report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from api.cli import main
from engine import RuleSet, bundled_rules_dir, load_rules
from engine.maintainer.evaluation import (
    evaluate,
    leave_one_out,
    read_floor,
    read_labelled,
    registry_titles,
    strip_own_number,
)
from engine.registry import Registry, load_default_registry


@pytest.fixture(scope="module")
def full() -> tuple[Registry, RuleSet]:
    registry = load_default_registry().enable_precedent()
    return registry, load_rules(bundled_rules_dir(), registry.owners())


def test_leave_one_out_over_the_registry_titles_reaches_the_floor(full: tuple[Registry, RuleSet]) -> None:
    registry, rs = full
    assert registry.precedent_index is not None
    report = evaluate(registry_titles(registry), rs, registry, precedent_for=leave_one_out(registry.precedent_index))
    floor = read_floor()
    assert report.total == len(registry) > 1_600
    assert report.accuracy >= floor, f"leave-one-out accuracy {report.accuracy:.3f} is below the floor {floor}"
    assert report.review_load <= 0.30


def test_without_the_registry_no_precedent_rule_fires(full: tuple[Registry, RuleSet]) -> None:
    registry, rs = full
    items = registry_titles(registry)[:200]
    rules_alone = evaluate(items, rs, None)
    fired = {r.rule for row in rules_alone.rows for r in row.decision.reasons}
    assert not any(".registry-" in rule for rule in fired)
    with_registry = evaluate(items, rs, registry)
    assert any(".registry-" in r.rule for row in with_registry.rows for r in row.decision.reasons)


def test_own_number_is_stripped() -> None:
    text = "Recommendation ITU-T X.1352 specifies requirements; see also ITU-T X.1353 and X.1352 (2022)."
    out = strip_own_number(text, "X.1352")
    assert "X.1352" not in out and "X.1353" in out and out.startswith("this Recommendation specifies")
    assert "Y.4806" not in strip_own_number("Rec. Y.4806/X.9 of ITU-T Y.4806", "Y.4806/X.9")


def test_reader_takes_dev_items_and_recommendations_and_maps_renamed_groups() -> None:
    lines = [
        json.dumps(
            {
                "id": "a",
                "study_group": "SG16",
                "accept": ["other:SG16"],
                "joint": True,
                "proposal": {"title": "Interfaces of a personal health device"},
            }
        ),
        json.dumps(
            {"id": "H.9", "title": "Coding of H.9 video", "study_group": "SG21", "abstract": "H.9 does things."}
        ),
        "{not json",
    ]
    got = list(read_labelled("\n".join(lines), "f.jsonl", strip=True))
    assert got[0].accept == ["other:SG21"] and got[0].owner == "SG21" and got[0].joint
    assert got[1].accept == ["other:SG21"] and "H.9" not in got[1].proposal.summary
    assert isinstance(got[2], str) and got[2].startswith("f.jsonl:3")


def test_eval_command_prints_every_figure(tmp_path: Path) -> None:
    f = tmp_path / "dev.jsonl"
    f.write_text(
        "\n".join(
            json.dumps(x)
            for x in [
                {
                    "id": "one",
                    "accept": ["SG17"],
                    "proposal": {"title": "Key management protocol for constrained devices"},
                },
                {
                    "id": "two",
                    "accept": ["SG20"],
                    "joint": True,
                    "proposal": {"title": "Requirements of a smart irrigation service"},
                },
                {
                    "id": "three",
                    "accept": ["other:SG11"],
                    "proposal": {"title": "Data model for a city service catalogue"},
                },
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    done = CliRunner().invoke(main, ["eval", str(f), "--leave-one-out", "--floor", "0.99"])
    for figure in (
        "accuracy",
        "recall per SG",
        "joint recall",
        "review recall",
        "review load",
        "by confidence",
        "confusion",
        "MISS three",
        "deciding:",
    ):
        assert figure in done.output, done.output
    assert done.exit_code == 1  # below the floor
