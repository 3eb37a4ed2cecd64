"""Staff workflow on the command line: `batch FILE` into the decision log, and A.1 text intake.

`iotsec-triage batch FILE` reads JSON Lines (a proposal per line, or an object with a
`proposal` field) or CSV (a header of proposal field names; list fields separated by ';'),
triages each item, commits each decision on its own (a killed run loses nothing committed),
reports item by item, goes on past bad items and ends with counts by home and by flag.
Running it again adds no duplicate: a proposal is stored once per rule revision.
"""
from __future__ import annotations

import csv
import io
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

import click
from pydantic import ValidationError

from api.cli import EXIT_OK, EXIT_USAGE, _registry_or_none, _validation_message, fail, load_ruleset, main, open_input, rules_option
from api.db import DecisionLog, LogUnavailable, decide
from engine import InputError, Proposal
from engine.a1text import parse_a1

LIST_FIELDS = ("keywords", "questions", "relations", "liaisons")
KNOWN = set(Proposal.model_fields)


def _read_all(path: str) -> str:
    stream = open_input(path)
    try:
        return stream.read()
    finally:
        if stream is not sys.stdin:
            stream.close()


def a1_proposals(path: str) -> Iterator[tuple[str, Proposal | str]]:
    """(where, proposal) read from the plain text of one A.1 justification; the fields found go to stderr."""
    name = "<stdin>" if path == "-" else path
    try:
        text = _read_all(path)
    except UnicodeDecodeError as exc:
        yield name, f"not UTF-8 text (byte {exc.start})"
        return
    try:
        parsed = parse_a1(text)
    except InputError as exc:
        yield name, str(exc)
        return
    click.echo(f"{name}: found {', '.join(parsed.found)}" + (f"; not found {', '.join(parsed.missing)}" if parsed.missing else ""), err=True)
    yield name, parsed.proposal


def _csv_records(text: str, name: str) -> Iterator[tuple[str, Any]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    unknown = [c for c in (reader.fieldnames or []) if c and c.strip() not in KNOWN]
    if not reader.fieldnames or "title" not in [c.strip() for c in reader.fieldnames]:
        raise fail(f"{name}:1: a CSV needs a header row with at least a 'title' column")
    if unknown:
        raise fail(f"{name}:1: unknown column(s) {', '.join(unknown)}; known: {', '.join(sorted(KNOWN))}")
    for row in reader:
        record: dict[str, Any] = {}
        for key, value in row.items():
            if key is None:
                yield f"{name}:{reader.line_num}", ValueError("more cells than header columns")
                break
            value = (value or "").strip()
            if not value:
                continue
            key = key.strip()
            record[key] = [v.strip() for v in value.split(";") if v.strip()] if key in LIST_FIELDS else value
        else:
            yield f"{name}:{reader.line_num}", record


def _jsonl_records(text: str, name: str) -> Iterator[tuple[str, Any]]:
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            yield f"{name}:{number}", ValueError(f"invalid JSON at column {exc.colno}: {exc.msg}")
            continue
        if isinstance(value, dict) and isinstance(value.get("proposal"), dict):
            value = value["proposal"]  # evaluation files: {"id", "accept", "proposal"}
        yield f"{name}:{number}", value


def batch_items(path: str, fmt: str) -> list[tuple[str, Proposal | str]]:
    """Every item of a JSONL or CSV file as (where, proposal) or (where, what is wrong)."""
    name = "<stdin>" if path == "-" else path
    try:
        text = _read_all(path)
    except UnicodeDecodeError as exc:
        raise fail(f"{name}: not UTF-8 text (byte {exc.start})") from None
    if fmt == "auto":
        fmt = "csv" if path.lower().endswith(".csv") else "jsonl"
    records = _csv_records(text, name) if fmt == "csv" else _jsonl_records(text, name)
    items: list[tuple[str, Proposal | str]] = []
    for where, value in records:
        if isinstance(value, Exception):
            items.append((where, str(value)))
            continue
        try:
            items.append((where, Proposal.model_validate(value)))
        except ValidationError as exc:
            items.append((where, _validation_message(exc)))
    return items


def summary_lines(counts: Counter[str], homes: Counter[str], flags: Counter[str]) -> list[str]:
    """The closing summary: totals, then counts by home and by flag."""
    lines = [f"items {counts['items']}: decided {counts['decided']} (new {counts['recorded']}, already logged {counts['existing']}, "
             f"decided by a review {counts['reviewed']}), bad {counts['bad']}, not logged {counts['failed']}"]
    lines.append("by home: " + (", ".join(f"{h} {n}" for h, n in sorted(homes.items(), key=lambda x: (-x[1], x[0]))) or "-"))
    lines.append("by flag: " + (", ".join(f"{f} {n}" for f, n in sorted(flags.items(), key=lambda x: (-x[1], x[0]))) or "-"))
    return lines


@main.command("batch")
@click.argument("file")
@rules_option
@click.option("--format", "fmt", type=click.Choice(["auto", "jsonl", "csv"]), default="auto", show_default=True,
              help="auto: CSV when FILE ends in .csv, else JSON Lines.")
@click.option("--no-registry", is_flag=True, help="Decide from the rules alone, without the registry of existing work.")
@click.option("--actor", default="batch", show_default=True, help="Who is recorded as having triaged the items.")
@click.option("--database-url", default=None, help="Decision log URL (default: IOTSEC_DATABASE_URL or SQLite under IOTSEC_DATA_DIR).")
def batch_cmd(file: str, rules_dir: Path | None, fmt: str, no_registry: bool, actor: str, database_url: str | None) -> None:
    """Triage every item of FILE (JSONL or CSV) into the decision log, item by item, with a summary."""
    from api.settings import get_settings

    settings = get_settings()
    rs = load_ruleset(rules_dir or settings.rules_dir)
    registry = None if no_registry else _registry_or_none()
    items = batch_items(file, fmt)
    log_ = DecisionLog(database_url or settings.resolved_database_url())
    try:
        log_.ensure_ready()
    except LogUnavailable as exc:
        raise fail(f"{exc} ({exc.detail})") from None
    counts: Counter[str] = Counter(items=len(items))
    homes: Counter[str] = Counter()
    flags: Counter[str] = Counter()
    try:
        with click.progressbar(items, label="triage", file=sys.stderr, show_pos=True) as bar:
            for where, item in bar:
                if isinstance(item, str):
                    counts["bad"] += 1
                    click.echo(f"{where}: error: {item}", err=True)
                    continue
                decision, note = decide(log_, item, rs, registry, actor)
                counts["decided"] += 1
                counts[note] += 1
                counts["reviewed"] += decision.reviewed
                home = {"joint": f"joint:{decision.lead}", "other": f"other:{decision.other_sg}"}.get(decision.home, decision.home)
                homes[home] += 1
                flags.update(decision.flag_codes())
                click.echo(f"{where}\t{home}\t{','.join(decision.questions) or '-'}\t{note}{' (reviewed)' if decision.reviewed else ''}"
                           f"\t{decision.decision_id}")
    finally:
        log_.close()
    for line in summary_lines(counts, homes, flags):
        click.echo(line)
    raise click.exceptions.Exit(EXIT_USAGE if counts["bad"] or counts["failed"] else EXIT_OK)
