"""The precedent index: k-NN shares and classifier probabilities, evidence by id and title, leave-out."""

from __future__ import annotations

from engine import Proposal, bundled_rules_dir, load_rules, triage
from engine.facts import extract
from engine.registry.precedent import PrecedentIndex, PrecedentItem, base_number, fold_of, leave_out

ITEMS = [
    PrecedentItem("A.1", "Optical fibre cable characteristics for access", "SG15"),
    PrecedentItem("A.2", "Optical fibre splicing in outside plant", "SG15"),
    PrecedentItem("A.3", "Optical amplifier characteristics", "SG15"),
    PrecedentItem("B.1", "Security of key management for devices", "SG17"),
    PrecedentItem("B.2", "Authentication protocol security for devices", "SG17"),
    PrecedentItem("B.2 (2019)", "Authentication protocol security for devices", "SG17"),
    PrecedentItem("C.1", "Requirements of a smart city sensor service", "SG20"),
    PrecedentItem("C.2", "Smart city platform requirements", "SG20"),
]


def test_signals_point_to_the_owner_of_similar_items_with_evidence() -> None:
    idx = PrecedentIndex.build(ITEMS)
    p = idx.from_text("Characteristics of optical fibre cables", ["SG15", "SG17", "SG20"])
    assert p.best()[0] == "SG15"
    assert p.signals["near_sg15"] > 50 and p.signals["prec_sg15"] > p.signals.get("prec_sg17", 0)
    assert p.signals["prec_lead"] > 0 and p.signals["near_top"] > 0
    shown = [e.words for e in p.evidence["prec_sg15"]]
    assert any(w.startswith("A.1 Optical fibre cable characteristics for access (SG15") for w in shown)


def test_leave_out_removes_every_edition_and_uses_its_fold() -> None:
    idx = PrecedentIndex.build(ITEMS)
    assert base_number("B.2 (2019)") == "B.2" and fold_of("B.2 (2019)") == fold_of("B.2")
    lo = leave_out(idx, "B.2")
    assert sorted(idx.items[i].id for i in lo.positions) == ["B.2", "B.2 (2019)"]
    p = idx.from_text("Authentication protocol security for devices", ["SG15", "SG17", "SG20"], leave_out=lo.positions)
    assert "B.2" not in " ".join(e.words for e in p.evidence.get("near_top", []))


def test_the_rules_read_the_signals_only_with_a_source() -> None:
    rs = load_rules(bundled_rules_dir())
    idx = PrecedentIndex.build(ITEMS)
    proposal = Proposal(title="Characteristics of optical fibre cables for access")
    assert idx.precedent(proposal, extract(proposal, rs), rs).signals["prec_sg15"] > 40
    alone = triage(proposal, rs)
    assert not any(".registry-" in r.rule for r in alone.reasons)
    with_it = triage(proposal, rs, precedent=idx)
    assert with_it.home == "other" and with_it.other_sg == "SG15"
    # The registry rule among the deciding ones shows the precedent behind it (a lexicon rule,
    # other.sg15-owned-system for "optical fibre cable", may decide with it).
    reason = next(r for r in with_it.reasons if r.rule in with_it.deciding_rules and ".registry-" in r.rule)
    assert any("A.1" in e.words for e in reason.evidence)


def test_evidence_is_worked_out_per_study_group_when_read() -> None:
    idx = PrecedentIndex.build(ITEMS)
    p = idx.from_text("Optical fibre cables and device authentication", ["SG15", "SG17", "SG20"])
    names = set(p.evidence)  # the names are known without working any evidence out
    assert {"near_top", "prec_sg15", "near_sg15", "model_sg15", "prec_sg17"} <= names
    worked = p.evidence._done  # type: ignore[attr-defined]
    assert "prec_sg15" not in worked and "prec_sg17" not in worked
    shown = p.evidence["prec_sg15"]
    assert any(e.words.startswith("A.") for e in shown)
    assert p.evidence["near_sg15"] is shown and p.evidence["model_sg15"] is shown  # one list per Study Group
    assert "prec_sg17" not in worked  # reading one Study Group's leaves the others unread
    assert p.evidence.get("prec_sg99") is None
