"""Staff workflow on the command line: `batch FILE` into the decision log.

`iotsec-triage batch FILE` reads JSON Lines (a proposal per line, or an object with `id` and
`proposal`) or CSV (a header of proposal field names and an optional id column; see
engine.intake.records),
triages each item, commits each decision on its own (a killed run loses nothing committed),
reports item by item, goes on past bad items and ends with counts by home and by flag.
Running it again adds no duplicate: a proposal is stored once per rule revision.
"""
from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import click

from api.cli.common import EXIT_OK, EXIT_USAGE, fail, no_registry_option, records_from, rules_option, runtime
from api.decision_log import LogUnavailable, decide
from engine.labels import label_of
from engine.models import Proposal


def summary_lines(counts: Counter[str], homes: Counter[str], flags: Counter[str]) -> list[str]:
    """The closing summary: totals, then counts by home and by flag."""
    lines = [f"items {counts['items']}: decided {counts['decided']} (new {counts['recorded']}, already logged {counts['existing']}, "
             f"decided by a review {counts['reviewed']}), bad {counts['bad']}, not logged {counts['failed']}"]
    lines.append("by home: " + (", ".join(f"{h} {n}" for h, n in sorted(homes.items(), key=lambda x: (-x[1], x[0]))) or "-"))
    lines.append("by flag: " + (", ".join(f"{f} {n}" for f, n in sorted(flags.items(), key=lambda x: (-x[1], x[0]))) or "-"))
    return lines


@click.command("batch")
@click.argument("file")
@rules_option
@click.option("--format", "fmt", type=click.Choice(["auto", "jsonl", "csv"]), default="auto", show_default=True,
              help="auto: CSV when FILE ends in .csv, else JSON Lines.")
@no_registry_option
@click.option("--actor", default="batch", show_default=True, help="Who is recorded as having triaged the items.")
@click.option("--database-url", default=None, help="Decision log URL (default: IOTSEC_DATABASE_URL or SQLite under IOTSEC_DATA_DIR).")
def batch_cmd(file: str, rules_dir: Path | None, fmt: str, no_registry: bool, actor: str, database_url: str | None) -> None:
    """Triage every item of FILE (JSONL or CSV) into the decision log, item by item, with a summary."""
    rt = runtime(rules_dir, registry=not no_registry, database_url=database_url)
    items: list[tuple[str, Proposal | str, str | None]] = []
    for rec in records_from(file, "json" if fmt == "jsonl" else fmt):
        if rec.warning:
            click.echo(f"{rec.where}: note: {rec.warning}", err=True)
        else:
            items.append((rec.label, rec.proposal if rec.proposal is not None else rec.error or "unreadable", rec.id))
    log_ = rt.decision_log()
    try:
        log_.ensure_ready()
    except LogUnavailable as exc:
        raise fail(f"{exc} ({exc.detail})") from None
    click.echo(f"decision log: {log_.display_url}", err=True)
    counts: Counter[str] = Counter(items=len(items))
    homes: Counter[str] = Counter()
    flags: Counter[str] = Counter()
    try:
        with click.progressbar(items, label="triage", file=sys.stderr, show_pos=True) as bar:
            for where, item, item_id in bar:
                if isinstance(item, str):
                    counts["bad"] += 1
                    click.echo(f"{where}: error: {item}", err=True)
                    continue
                decision, note = decide(log_, item, rt.rules, rt.registry, actor, item_id=item_id)
                counts["decided"] += 1
                counts[note] += 1
                counts["reviewed"] += decision.reviewed
                home = label_of(decision)
                homes[home] += 1
                flags.update(decision.flag_codes())
                click.echo(f"{where}\t{home}\t{','.join(decision.questions) or '-'}\t{note}{' (reviewed)' if decision.reviewed else ''}"
                           f"\t{decision.decision_id}")
    finally:
        log_.close()
    for line in summary_lines(counts, homes, flags):
        click.echo(line)
    raise click.exceptions.Exit(EXIT_USAGE if counts["bad"] or counts["failed"] else EXIT_OK)
