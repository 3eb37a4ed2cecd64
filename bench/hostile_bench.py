"""Hostile-input figures: the lexicon on 10 KB, 100 KB and 1 MB of one phrase repeated.

The repeated phrase is the worst case for blockers ("de-identification": every repeat is a hit of
`identification` inside a `de identification` blocker span), next to plain English and a phrase
no concept claims. The matcher is timed directly (spans on the raw text, no field limits), and
whole triage through the bundled rules on the sizes a proposal may have (100 KB at most).

Also: how long refusing deeply nested YAML takes (before the nesting scan, 8 KB of "[" took 23 s
to lint). Cases slower than SKIP_AFTER are not tried at the next size.

Run: .venv/bin/python -m bench.hostile_bench [--rounds 3]   (prints figures; asserts nothing)
"""

from __future__ import annotations

import argparse
import time

from engine import Proposal, bundled_rules_dir, load_rules, triage
from engine.lexicon import compile_matcher

PHRASES = {
    "de-identification": "de-identification ",
    "identification": "identification ",
    "english": "the security of the devices and of the network and ",
    "unclaimed": "lorem ipsum ",
}
SIZES = {"10 KB": 10_000, "100 KB": 100_000, "1 MB": 1_000_000}


SKIP_AFTER = (
    2.0  # seconds: a case slower than this is not tried on the next size (100 times the text, quadratic before the fix)
)


def best(run, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        run()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    rs = load_rules(bundled_rules_dir())
    print(f"lexicon matcher, spans() of repeated phrases, best of {args.rounds} (seconds)")
    print(f"{'phrase':<28}" + "".join(f"{s:>12}" for s in SIZES) + f"{'hits (1 MB)':>14}")
    for name, unit in PHRASES.items():
        cells, hits = [], "-"
        last = 0.0
        for size in SIZES.values():
            if last > SKIP_AFTER:
                cells.append(f"{'skipped':>12}")
                continue
            text = unit * (size // len(unit))
            last = best(lambda: rs.matcher.spans(text), args.rounds)
            cells.append(f"{last:>12.4f}")
            if size == 1_000_000:
                hits = str(len(rs.matcher.spans(text)))
        print(f"{name:<28}" + "".join(cells) + f"{hits:>14}", flush=True)
    # A lexicon the loader refuses (stop words as blockers, finding 2), compiled directly: the
    # matcher itself must stay linear even so.
    bad = compile_matcher(
        {"security": ["security", "network"], "device": ["devices"]},
        {"security": ["the", "of", "and"], "device": ["the", "of", "and"]},
    )
    cells, last = [], 0.0
    unit = PHRASES["english"]
    for size in SIZES.values():
        if last > SKIP_AFTER:
            cells.append(f"{'skipped':>12}")
            continue
        text = unit * (size // len(unit))
        last = best(lambda: bad.spans(text), args.rounds)
        cells.append(f"{last:>12.4f}")
    print(f"{'english + stop-word blocks':<28}" + "".join(cells), flush=True)
    print()
    print(f"triage() with the text field filled (at most 100,000 characters), best of {args.rounds} (seconds)")
    print(f"{'phrase':<28}" + "".join(f"{s:>12}" for s in ("10 KB", "100 KB")))
    for name, unit in PHRASES.items():
        row = []
        for size in (10_000, 99_000):
            p = Proposal(title="Security of IoT devices", text=(unit * (size // len(unit))).strip())
            row.append(best(lambda: triage(p, rs), args.rounds))
        print(f"{name:<28}" + "".join(f"{t:>12.4f}" for t in row), flush=True)
    rs.close()
    print()
    print(f"refusing deeply nested YAML (parse_yaml), best of {args.rounds} (seconds)")
    from engine.yamlfile import YamlFileError, parse_yaml

    for label, size in (("8 KB", 8_000), ("40 KB", 40_000), ("1 MB", 1_000_000)):
        text = "schema: iotsec-triage/rules@1\nrules: " + "[" * (size // 2) + "]" * (size // 2) + "\n"

        def refuse() -> None:
            try:
                parse_yaml(text, "deep.yaml")
            except YamlFileError:
                pass

        print(f"{'[' * 3 + '... ' + label:<28}{best(refuse, args.rounds):>12.4f}", flush=True)


if __name__ == "__main__":
    main()
