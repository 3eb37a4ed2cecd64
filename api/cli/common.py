"""What every command shares: exit codes, the error exit, options, reading input files, and the
runtime assembled by api.runtime.bootstrap (so each command honours the same settings).

Exit codes: 0 ok, 1 findings (lint errors, failed rule tests, a missed floor), 2 usage or input
errors (a bad file, a broken rule set, a port that is taken).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import click

from api.cli import startup
from api.runtime import bootstrap
from api.runtime.settings import Settings
from engine.errors import LoadError
from engine.intake.files import SUFFIXES, read_upload
from engine.intake.records import Record, read_records

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2


def fail(message: str) -> click.exceptions.Exit:
    """Say what is wrong on stderr; the caller raises the returned exit (code 2)."""
    click.echo(f"error: {message}", err=True)
    return click.exceptions.Exit(EXIT_USAGE)


def fail_load(exc: LoadError) -> NoReturn:
    """Every located problem of a file that did not load, one per line, then exit 2."""
    for issue in exc.issues:
        click.echo(str(issue), err=True)
    raise fail(f"{len(exc.issues)} problem(s) in the {exc.what}") from None


rules_option = click.option(
    "--rules",
    "rules_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Rule directory (default: IOTSEC_RULES_DIR or the bundled rules).",
)
registry_option = click.option(
    "--registry",
    "registry_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Registry file (default: IOTSEC_REGISTRY_FILE or the bundled registry).",
)
no_registry_option = click.option(
    "--no-registry", is_flag=True, help="Decide from the rules alone, without the registry of existing work."
)


def runtime(
    rules_dir: Path | None = None,
    *,
    registry: bool = True,
    registry_file: Path | None = None,
    database_url: str | None = None,
) -> bootstrap.Runtime:
    """The core as the service assembles it, with this command's overrides; exit 2 on a broken file."""
    settings = Settings()  # read when the command runs (one command, one reading)
    if registry_file is not None:
        settings = settings.model_copy(update={"registry_file": registry_file})
    try:
        with startup.building():  # the collector paused while it builds, if the console script paused it
            rt = bootstrap.build(settings, rules_dir=rules_dir, registry=registry, database_url=database_url)
    except LoadError as exc:
        fail_load(exc)
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.call_on_close(rt.close)  # the decision log's connections closed when the command ends
    return rt


def read_text(path: str) -> tuple[str, str]:
    """(text, name) of FILE ('-' = stdin), or exit 2 when it cannot be read as UTF-8 text."""
    name = "<stdin>" if path == "-" else path
    try:
        if path == "-":
            return sys.stdin.read(), name
        with open(path, encoding="utf-8") as stream:
            return stream.read(), name
    except UnicodeDecodeError as exc:
        raise fail(f"{name}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise fail(f"cannot read {path}: {exc.strerror}") from None


def files_of(path: Path) -> list[Path]:
    """The files of a folder that hold proposals (.docx, .txt, .xlsx, .csv, .json, .jsonl), sorted, subfolders too."""
    return sorted(
        p
        for p in path.rglob("*")
        if p.is_file() and p.suffix.lower() in SUFFIXES and not p.name.startswith((".", "~$"))
    )


def records_from(path: str, fmt: str = "auto") -> Iterator[Record]:
    """Every record of FILE or of every file in a folder (JSON, JSON Lines, CSV, XLSX, an A.1 .docx
    or .txt; engine.intake). A file that cannot be read is one error record naming it; the rest go on."""
    if path == "-":
        text, name = read_text(path)
        yield from read_records(text, name, fmt)
        return
    given = Path(path)
    if given.is_dir():
        files = files_of(given)
        if not files:
            raise fail(f"{path}: no .docx, .txt, .xlsx, .csv, .json or .jsonl file in this folder")
    elif given.exists():
        files = [given]
    else:
        raise fail(f"cannot read {path}: No such file or directory")
    for file in files:
        try:
            data = file.read_bytes()
        except OSError as exc:
            yield Record(str(file), error=f"cannot read the file: {exc.strerror}")
            continue
        yield from read_upload(data, str(file), fmt)
