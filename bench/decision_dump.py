"""Decisions dumped for a before/after check of a speed change: every golden fixture proposal
(fixtures/proposals/*.yaml) and, when given, the proposals of dev files (JSON Lines with a
"proposal" object), decided with the bundled rules and the full registry (related work and
precedent). One JSON line per proposal: home, lead, questions, flag codes, confidence and the
whole decision (decision_id fixed). `--compare OTHER` prints how many differ.

Run: .venv/bin/python -m bench.decision_dump OUT.jsonl [DEV.jsonl ...] [--compare BEFORE.jsonl]
(run it on the commit before the change, then after, and compare).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from engine import Proposal, bundled_rules_dir, load_rules, triage
from engine.maintainer.goldens import fixture_files, load_fixtures
from engine.registry import load_default_registry

ROOT = Path(__file__).resolve().parent.parent
KEYS = ("home", "lead", "questions", "flags", "confidence")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("dev", nargs="*")
    parser.add_argument("--compare")
    args = parser.parse_args()
    rs = load_rules(bundled_rules_dir())
    registry = load_default_registry().enable_precedent()
    proposals: list[Proposal] = []
    for path in fixture_files(ROOT / "fixtures" / "proposals"):
        proposals += [f.proposal for f in load_fixtures(path)[0]]
    for dev in args.dev:
        for line in Path(dev).read_text(encoding="utf-8").splitlines():
            if line.strip():
                record = json.loads(line)
                proposals.append(Proposal.model_validate(record.get("proposal", record)))
    lines = []
    for p in proposals:
        d = triage(p, rs, registry, decision_id="dump")
        lines.append(
            json.dumps(
                {
                    "home": d.home,
                    "lead": d.lead,
                    "questions": d.questions,
                    "flags": [f.code for f in d.flags],
                    "confidence": d.confidence,
                    "decision": d.model_dump(mode="json"),
                },
                sort_keys=True,
            )
        )
    Path(args.out).write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"{len(lines)} decisions written to {args.out}")
    if args.compare:
        before = [json.loads(x) for x in Path(args.compare).read_text(encoding="utf-8").splitlines() if x.strip()]
        after = [json.loads(x) for x in lines]
        if len(before) != len(after):
            print(f"different item counts: {len(before)} before, {len(after)} after")
            return
        changed = sum(1 for a, b in zip(before, after) if [a[k] for k in KEYS] != [b[k] for k in KEYS])
        whole = sum(1 for a, b in zip(before, after) if a["decision"] != b["decision"])
        print(
            f"changed: {changed} of {len(after)} in home/lead/questions/flags/confidence; {whole} whole decisions "
            "differ"
        )


if __name__ == "__main__":
    main()
