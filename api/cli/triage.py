"""`iotsec-triage triage` (proposals in, decisions out) and `eval` (accuracy on labelled items)."""
from __future__ import annotations

import json
from pathlib import Path

import click

from api.cli.common import EXIT_USAGE, fail, no_registry_option, read_text, records_from, rules_option, runtime
from api.decision_log import decide
from engine import Decision
from engine.intake.a1text import parse_a1
from engine.errors import InputError
from engine.labels import label_of
from engine.maintainer.evaluation import Labelled, evaluate
from engine.models import Proposal


def table_row(where: str, d: Decision) -> str:
    flags = ",".join(f.code for f in d.flags) or "-"
    chosen = ",".join(d.deciding_rules) or "-"
    return f"{where:<24} {label_of(d):<12} {','.join(d.questions) or '-':<16} {d.confidence:<5.2f} {chosen:<36} {flags}"


def _a1_proposal(path: str) -> tuple[str, Proposal | str]:
    """(where, proposal) read from the plain text of one A.1 justification; the fields found go to stderr."""
    text, name = read_text(path)
    try:
        parsed = parse_a1(text)
    except InputError as exc:
        return name, str(exc)
    click.echo(f"{name}: found {', '.join(parsed.found)}" + (f"; not found {', '.join(parsed.missing)}" if parsed.missing else ""), err=True)
    return name, parsed.proposal


def _json_line(item_id: str | None, decision: Decision) -> str:
    """The decision as one JSON line, led by the item's own id (a contribution number) when it has one."""
    line = decision.model_dump_json()
    return "{" + f'"id":{json.dumps(item_id)},' + line[1:] if item_id else line


@click.command("triage")
@click.argument("file")
@rules_option
@click.option("--format", "fmt", type=click.Choice(["json", "table"]), default="json", show_default=True)
@no_registry_option
@click.option("--text", "as_text", is_flag=True, help="FILE is the plain text of an A.1 justification; the fields found go to stderr.")
@click.option("--no-log", is_flag=True, help="Do not record the decisions in the decision log.")
def triage_cmd(file: str, rules_dir: Path | None, fmt: str, no_registry: bool, as_text: bool = False, no_log: bool = False) -> None:
    """Triage FILE or every file of a folder: JSON, JSON Lines, CSV, XLSX, an A.1 .docx or .txt ('-' reads stdin).
    One decision per line; each is recorded in the decision log (the id the service gives the same text)."""
    rt = runtime(rules_dir, registry=not no_registry)
    log_, write = (None, False) if no_log else rt.log_for_request()
    bad = 0
    if fmt == "table":
        click.echo(f"{'item':<24} {'home':<12} {'questions':<16} {'conf':<5} {'deciding rule':<36} flags")
    items: list[tuple[str, Proposal | str]]
    ids: dict[str, str] = {}
    if as_text:
        items = [_a1_proposal(file)]
    else:
        items = []
        for rec in records_from(file, "auto"):
            if rec.warning:
                click.echo(f"{rec.where}: note: {rec.warning}", err=True)
            elif rec.proposal is not None:
                items.append((rec.label, rec.proposal))
                if rec.id:
                    ids[rec.label] = rec.id
            else:
                items.append((rec.label, rec.error or "unreadable"))
    for where, item in items:
        if isinstance(item, str):
            bad += 1
            click.echo(f"{where}: {item}", err=True)
            if fmt == "json":
                click.echo(json.dumps({"where": where, "error": item}))
            continue
        decision, _ = decide(log_, item, rt.rules, rt.registry, "cli", write)
        click.echo(_json_line(ids.get(where), decision) if fmt == "json" else table_row(where, decision))
    if bad:
        raise click.exceptions.Exit(EXIT_USAGE)


@click.command("eval")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@rules_option
@no_registry_option
def eval_cmd(file: Path, rules_dir: Path | None, no_registry: bool) -> None:
    """Accuracy on FILE: JSON Lines with an `accept` list and a `proposal` object per line."""
    rt = runtime(rules_dir, registry=not no_registry)
    items: list[Labelled] = []
    for rec in records_from(str(file), "json"):
        if rec.proposal is None:
            raise fail(f"{rec.label}: {rec.error or rec.warning}")
        accept = rec.extra.get("accept")
        if not isinstance(accept, list) or not accept:
            raise fail(f"{rec.label}: expected an object with an 'accept' list and a 'proposal'")
        items.append(Labelled(rec.id or rec.where, rec.proposal, [str(a) for a in accept]))
    if not items:
        raise fail(f"{file}: no items")
    report = evaluate(items, rt.rules, rt.registry)
    click.echo(f"accuracy: {report.good}/{report.total} = {report.accuracy:.1%}")
    rows = sorted({e for e, _ in report.confusion})
    cols = sorted({g for _, g in report.confusion})
    width = max([len(c) for c in cols] + [8])
    click.echo("\nconfusion (rows: expected, columns: decided)")
    click.echo(" " * 14 + " ".join(f"{c:>{width}}" for c in cols))
    for r in rows:
        click.echo(f"{r:<14}" + " ".join(f"{report.confusion[(r, c)] or '.':>{width}}" for c in cols))
    if report.misses:
        click.echo(f"\nmisses ({len(report.misses)}):")
        for m in report.misses:
            fired = ", ".join(r.rule for r in m.decision.reasons)
            click.echo(f"  MISS {m.item.id}: expected {'|'.join(m.item.accept)}, got {label_of(m.decision)} "
                       f"(confidence {m.decision.confidence})\n       title: {m.item.proposal.title[:100]}\n"
                       f"       rules: {fired or '(none fired)'}")
