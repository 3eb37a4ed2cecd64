"""Start-up cost of the command line, as ratios to a bare interpreter start in the same run.

Times, each in a fresh process: `python -c pass` (this venv's interpreter), `iotsec-triage --help`,
a first `iotsec-triage triage` of one small proposal (rules loaded, one decision, logged, printed),
and the same with --no-log.
Median of N runs each (default 7, at most 50; one unmeasured run of each first, so that bytecode
caches, the parse cache and the decision log's database exist), interleaved so that machine noise
falls on all of them alike.
Prints figures; never asserts timings. Run: python -m bench.cli_bench [N]

Targets: --help <= 8x and a first decision <= 25x `python -c pass`. A first decision logs it (the
default), so it imports SQLAlchemy (about 8x on its own here); `triage --no-log` does not.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MAX_RUNS = 50
SMALL = {
    "title": "Security requirements for smart irrigation gateways",
    "summary": "Gateways relay soil sensor readings to a farm platform; this draft specifies their authentication.",
}


def cli() -> str:
    """The venv's own console script next to this interpreter, else the one on PATH."""
    beside = Path(sys.executable).with_name("iotsec-triage")
    found = str(beside) if beside.exists() else shutil.which("iotsec-triage")
    if not found:
        sys.exit("iotsec-triage is not installed next to this Python or on PATH (make install)")
    return found


def once(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{' '.join(argv)} exited {done.returncode}: {done.stderr.decode(errors='replace')[-500:]}")
    return elapsed


def main() -> None:
    runs = max(1, min(MAX_RUNS, int(sys.argv[1]) if len(sys.argv) > 1 else 7))
    with tempfile.TemporaryDirectory(prefix="cli-bench-") as tmp:
        proposal = Path(tmp) / "proposal.json"
        proposal.write_text(json.dumps(SMALL), encoding="utf-8")
        env = {**os.environ, "IOTSEC_DATA_DIR": str(Path(tmp) / "data")}  # nothing written into the checkout
        # As a user's machine runs it: bytecode written on the warm-up run and read after (a pip install
        # compiles it anyway); with PYTHONDONTWRITEBYTECODE set every run would compile the project again.
        dropped = env.pop("PYTHONDONTWRITEBYTECODE", None) is not None
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "iotsec-triage --help": [cli(), "--help"],
            "iotsec-triage triage (first decision)": [cli(), "triage", str(proposal)],
            "iotsec-triage triage --no-log": [cli(), "triage", "--no-log", str(proposal)],
        }
        times: dict[str, list[float]] = {name: [] for name in commands}
        for argv in commands.values():
            once(argv, env)  # warm-up, not counted
        for _ in range(runs):
            for name, argv in commands.items():
                times[name].append(once(argv, env))
    medians = {name: statistics.median(t) for name, t in times.items()}
    base = medians["python -c pass"]
    print(f"Python {sys.version.split()[0]} ({sys.executable}); median of {runs} runs each")
    if dropped:
        print("(PYTHONDONTWRITEBYTECODE unset for the commands measured: their bytecode caches are used)")
    targets = {"iotsec-triage --help": 8, "iotsec-triage triage (first decision)": 25}
    for name, median in medians.items():
        target = f"  (target <= {targets[name]}x)" if name in targets else ""
        print(f"{name:40s} {median * 1e3:8.1f} ms  {median / base:6.1f}x{target}")


if __name__ == "__main__":
    main()
