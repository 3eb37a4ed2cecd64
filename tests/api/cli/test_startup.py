"""What a command imports, seen from a fresh interpreter: a command loads what it uses only.

Each run is the console script's own entry (api.cli.run) in a subprocess, which then writes the
names of the modules it ended with to a file. Timings are for bench/cli_bench.py, not here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

WRAPPER = """
import json, sys
out, sys.argv = sys.argv[1], ["iotsec-triage", *sys.argv[2:]]
from api.cli import run
try:
    run()
except SystemExit as exc:
    code = exc.code
else:
    code = 0
with open(out, "w", encoding="utf-8") as f:
    json.dump({"code": code, "modules": sorted(sys.modules), "collecting": __import__("gc").isenabled()}, f)
"""
PROPOSAL = {
    "title": "Security requirements for smart irrigation gateways",
    "summary": "Gateways relay soil sensor readings to a farm platform; this draft specifies their authentication.",
}


@pytest.fixture
def command(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Run `iotsec-triage ARGS` in a fresh interpreter: (exit code, top-level packages imported)."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("IOTSEC_")},
        "IOTSEC_DATA_DIR": str(tmp_path / "data"),
        "IOTSEC_CACHE_DIR": str(tmp_path / "cache"),
    }
    proposal = tmp_path / "p.json"
    proposal.write_text(json.dumps(PROPOSAL), encoding="utf-8")

    collecting: list[bool] = []  # whether the collector was on when each command ended

    def run(*args: str) -> tuple[int, set[str]]:
        out = tmp_path / "modules.json"
        argv = [a.replace("PROPOSAL", str(proposal)) for a in args]
        done = subprocess.run(
            [sys.executable, "-c", WRAPPER, str(out), *argv],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert out.exists(), done.stderr[-2000:]
        got = json.loads(out.read_text(encoding="utf-8"))
        collecting.append(got["collecting"])
        return got["code"], {name.split(".")[0] for name in got["modules"]}

    run.collecting = collecting  # type: ignore[attr-defined]
    return run


def test_a_command_that_builds_no_runtime_runs_collected(command) -> None:  # type: ignore[no-untyped-def]
    # `rules lint` never calls runtime(): the pause for start-up still ends once it is imported.
    code, _ = command("rules", "lint")
    assert code == 0
    code, _ = command("triage", "--no-log", "PROPOSAL")
    assert code == 0
    assert command.collecting == [True, True]


def test_help_imports_no_engine_and_no_library_of_a_command(command) -> None:  # type: ignore[no-untyped-def]
    code, loaded = command("--help")
    assert code == 0
    assert not loaded & {"engine", "numpy", "scipy", "sklearn", "pydantic", "sqlalchemy", "alembic", "fastapi"}


def test_a_triage_that_does_not_log_imports_no_sqlalchemy(command) -> None:  # type: ignore[no-untyped-def]
    command("triage", "--no-log", "PROPOSAL")  # fills the cache
    code, loaded = command("triage", "--no-log", "PROPOSAL")
    assert code == 0
    assert not loaded & {"sqlalchemy", "alembic", "mako"}
    # From the cache: no refit (scikit-learn), no sparse matrices (scipy), no YAML parser, no web framework.
    assert not loaded & {"sklearn", "scipy", "ruamel", "fastapi", "starlette", "uvicorn", "jinja2", "matplotlib"}


def test_a_triage_that_logs_into_a_current_database_imports_no_alembic(command) -> None:  # type: ignore[no-untyped-def]
    code, loaded = command("triage", "PROPOSAL")  # creates and migrates the log (Alembic runs)
    assert code == 0 and "alembic" in loaded
    code, loaded = command("triage", "PROPOSAL")
    assert code == 0 and "sqlalchemy" in loaded  # it does log, by default
    assert not loaded & {"alembic", "mako", "sklearn", "scipy", "fastapi"}


def test_the_collector_paused_for_start_up_resumes_with_start_up_frozen() -> None:
    import gc

    from api.cli import startup

    assert gc.isenabled()
    frozen = gc.get_freeze_count()  # another test may have imported the service (api/web/main.py freezes)
    startup.resume()  # nothing paused it: left as it is
    assert gc.isenabled() and gc.get_freeze_count() == frozen
    try:
        startup.pause()
        assert not gc.isenabled()
        startup.resume()
        assert gc.isenabled() and gc.get_freeze_count() > frozen
    finally:
        gc.unfreeze()
        gc.enable()


def test_the_console_script_keeps_what_the_user_set() -> None:
    from api.cli import startup

    saved = {k: os.environ.get(k) for k in ("OPENBLAS_NUM_THREADS", "PYDANTIC_DISABLE_PLUGINS")}
    try:
        os.environ["OPENBLAS_NUM_THREADS"] = "4"
        os.environ.pop("PYDANTIC_DISABLE_PLUGINS", None)
        startup.single_threaded_blas()
        startup.without_pydantic_plugins()
        assert os.environ["OPENBLAS_NUM_THREADS"] == "4" and os.environ["PYDANTIC_DISABLE_PLUGINS"] == "__all__"
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
