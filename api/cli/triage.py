"""`iotsec-triage triage` (proposals in, decisions out) and `eval` (accuracy on labelled items)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from api.cli.common import (
    EXIT_FINDINGS,
    EXIT_USAGE,
    fail,
    no_registry_option,
    read_text,
    records_from,
    rules_option,
    runtime,
)
from api.decision_log import decide
from engine import Decision
from engine.errors import InputError
from engine.intake.a1text import parse_a1
from engine.labels import label_of
from engine.models import Proposal

if TYPE_CHECKING:
    from engine.maintainer.evaluation import EvalReport, Labelled


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
    click.echo(
        f"{name}: found {', '.join(parsed.found)}"
        + (f"; not found {', '.join(parsed.missing)}" if parsed.missing else ""),
        err=True,
    )
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
@click.option(
    "--text",
    "as_text",
    is_flag=True,
    help="FILE is the plain text of an A.1 justification; the fields found go to stderr.",
)
@click.option("--no-log", is_flag=True, help="Do not record the decisions in the decision log.")
def triage_cmd(
    file: str, rules_dir: Path | None, fmt: str, no_registry: bool, as_text: bool = False, no_log: bool = False
) -> None:
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
        decision, _ = decide(log_, item, rt.rules, rt.registry, "cli", write, item_id=ids.get(where))
        click.echo(_json_line(ids.get(where), decision) if fmt == "json" else table_row(where, decision))
    if bad:
        raise click.exceptions.Exit(EXIT_USAGE)


@click.command("eval")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@rules_option
@no_registry_option
@click.option(
    "--leave-one-out",
    "loo",
    is_flag=True,
    help="Judge each item as a new proposal: its own number stripped from its text, itself (and its editions) "
    "removed from the precedent, the classifier fitted without its fold.",
)
@click.option(
    "--misses", "max_misses", type=int, default=50, show_default=True, help="How many misses to list (0: none)."
)
@click.option("--floor", type=float, default=None, help="Exit 1 when the accuracy is below this.")
def eval_cmd(
    files: tuple[Path, ...], rules_dir: Path | None, no_registry: bool, loo: bool, max_misses: int, floor: float | None
) -> None:
    """Accuracy on FILES (JSON Lines): dev items ({"accept": [...], "proposal": {...}}, optional "joint": true)
    or Recommendations ({"id", "title", "study_group", "abstract"}: title + abstract as the proposal).
    Prints accuracy, recall per SG, the confusion table, joint recall, review recall and load,
    accuracy per confidence band, and each miss with its deciding rules."""
    from engine.maintainer.evaluation import evaluate, leave_one_out, read_labelled

    rt = runtime(rules_dir, registry=not no_registry)
    below = False
    for file in files:
        text, name = read_text(str(file))
        items: list[Labelled] = []
        for got in read_labelled(text, name, strip=loo):
            if isinstance(got, str):
                raise fail(got)
            items.append(got)
        if not items:
            raise fail(f"{file}: no items")
        index = rt.registry.precedent_index if rt.registry is not None else None
        report = evaluate(
            items, rt.rules, rt.registry, precedent_for=leave_one_out(index) if loo and index is not None else None
        )
        _print_report(name + (" (leave-one-out)" if loo else ""), report, max_misses)
        below = below or (floor is not None and report.accuracy < floor)
    if below:
        click.echo(f"accuracy below the floor {floor}", err=True)
        raise click.exceptions.Exit(EXIT_FINDINGS)


def _print_report(name: str, report: EvalReport, max_misses: int) -> None:
    click.echo(f"== {name}: {report.total} items")
    click.echo(f"accuracy        {report.good}/{report.total} = {report.accuracy:.3f}")
    click.echo(
        "recall per SG   " + "  ".join(f"{sg} {g / n:.2f} ({g}/{n})" for sg, (g, n) in report.recall_by_sg().items())
    )
    joint, marked = report.joint_recall()
    if marked:
        click.echo(f'joint recall    {joint}/{marked} = {joint / marked:.3f} (items marked "joint": true)')
    wrong = report.total - report.good
    flagged = sum(r.review for r in report.rows if not r.good)
    click.echo(f"review recall   {flagged}/{wrong} = {report.review_recall:.3f} (wrong answers carrying NEEDS_REVIEW)")
    click.echo(
        f"review load     {sum(r.review for r in report.rows)}/{report.total} = {report.review_load:.3f} (answers "
        "carrying it)"
    )
    click.echo("by confidence   " + "  ".join(f"{b}: {g / n:.2f} ({g}/{n})" for b, g, n in report.bands()))
    rows = sorted({e for e, _ in report.confusion})
    cols = sorted({g for _, g in report.confusion})
    width = max([len(c) for c in cols] + [8])
    click.echo("confusion (rows: expected, columns: decided)")
    click.echo(" " * 14 + " ".join(f"{c:>{width}}" for c in cols))
    for r in rows:
        click.echo(f"{r:<14}" + " ".join(f"{report.confusion[(r, c)] or '.':>{width}}" for c in cols))
    if report.misses and max_misses:
        click.echo(f"misses ({len(report.misses)}, first {min(max_misses, len(report.misses))}):")
        for m in report.misses[:max_misses]:
            d = m.decision
            review = " [NEEDS_REVIEW]" if any(f.code == "NEEDS_REVIEW" for f in d.flags) else ""
            click.echo(
                f"  MISS {m.item.id}: expected {'|'.join(m.item.accept)}, got {label_of(d)} "
                f"(confidence {d.confidence}){review}\n       title: {m.item.proposal.title[:100]}\n"
                f"       deciding: {', '.join(d.deciding_rules) or '(none)'}"
            )
    click.echo("")
