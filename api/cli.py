"""The `iotsec-triage` command line: a thin door onto the engine, like the HTTP service.

Exit codes: 0 ok, 1 findings (lint errors, failed rule tests), 2 usage or input errors.
"""
from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any, Iterator, TextIO

import click
from pydantic import ValidationError

from engine import Decision, Proposal, RuleLoadError, RuleSet, bundled_rules_dir, load_rules, trace, triage

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2


def fail(message: str) -> "click.exceptions.Exit":
    click.echo(f"error: {message}", err=True)
    return click.exceptions.Exit(EXIT_USAGE)


def load_ruleset(rules_dir: Path | None, registry: Any = None) -> RuleSet:
    """Load rules or exit 2 with every issue, one per line (file:line:column: message).
    With a registry, cited Recommendations it holds take their owner from it (as in the service)."""
    try:
        return load_rules(rules_dir or bundled_rules_dir(), registry.owners() if registry is not None else None)
    except RuleLoadError as exc:
        for issue in exc.issues:
            click.echo(str(issue), err=True)
        raise fail(f"{len(exc.issues)} problem(s) in the rules") from None


def read_json_records(stream: TextIO, name: str) -> Iterator[tuple[str, Any]]:
    """(where, value) for one JSON document or JSON Lines; where = 'FILE:LINE'. Bad lines yield an InputError-like."""
    text = stream.read()
    stripped = text.strip()
    if not stripped:
        return
    if stripped.startswith("{") and "\n" in stripped:
        try:
            yield f"{name}:1", json.loads(stripped)
            return
        except json.JSONDecodeError:
            pass  # JSON Lines, read line by line below
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            yield f"{name}:{number}", json.loads(line)
        except json.JSONDecodeError as exc:
            yield f"{name}:{number}", ValueError(f"invalid JSON at column {exc.colno}: {exc.msg}")


def open_input(path: str) -> TextIO:
    if path == "-":
        return sys.stdin
    try:
        return open(path, encoding="utf-8")
    except OSError as exc:
        raise fail(f"cannot read {path}: {exc.strerror}") from None


def _validation_message(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'proposal'}: {e['msg']}" for e in exc.errors(include_url=False))


def proposals_from(path: str) -> Iterator[tuple[str, Proposal | str]]:
    """(where, proposal) or (where, error message) for every record of a proposal file."""
    stream = open_input(path)
    try:
        for where, value in read_json_records(stream, "<stdin>" if path == "-" else path):
            if isinstance(value, Exception):
                yield where, str(value)
                continue
            try:
                yield where, Proposal.model_validate(value)
            except ValidationError as exc:
                yield where, _validation_message(exc)
    except UnicodeDecodeError as exc:
        yield path, f"not UTF-8 text (byte {exc.start})"
    finally:
        if stream is not sys.stdin:
            stream.close()


def table_row(where: str, d: Decision) -> str:
    home = {"joint": f"joint/{d.lead}", "other": f"other/{d.other_sg}"}.get(d.home, d.home)
    flags = ",".join(f.code for f in d.flags) or "-"
    chosen = next((r.rule for r in d.reasons if "chosen" in r.effect), "-")
    return f"{where:<24} {home:<12} {','.join(d.questions) or '-':<16} {d.confidence:<5.2f} {chosen:<36} {flags}"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option("0.1.0", prog_name="iotsec-triage")
def main() -> None:
    """Recommend the home of proposed IoT-security work items (SG17, SG20, joint, other SG)."""


rules_option = click.option("--rules", "rules_dir", type=click.Path(path_type=Path, file_okay=False), default=None,
                            help="Rule directory (default: the bundled rules).")


@main.command("triage")
@click.argument("file")
@rules_option
@click.option("--format", "fmt", type=click.Choice(["json", "table"]), default="json", show_default=True)
@click.option("--no-registry", is_flag=True, help="Decide from the rules alone, without the registry of existing work.")
@click.option("--text", "as_text", is_flag=True, help="FILE is the plain text of an A.1 justification; the fields found go to stderr.")
def triage_cmd(file: str, rules_dir: Path | None, fmt: str, no_registry: bool, as_text: bool = False) -> None:
    """Triage FILE: one JSON proposal or JSON Lines ('-' reads stdin); one decision per line."""
    registry = None if no_registry else _registry_or_none()
    rs = load_ruleset(rules_dir, registry)
    bad = 0
    if fmt == "table":
        click.echo(f"{'item':<24} {'home':<12} {'questions':<16} {'conf':<5} {'deciding rule':<36} flags")
    from api.cli_workflow import a1_proposals  # here: that module imports this one
    for where, item in (a1_proposals(file) if as_text else proposals_from(file)):
        if isinstance(item, str):
            bad += 1
            click.echo(f"{where}: {item}", err=True)
            if fmt == "json":
                click.echo(json.dumps({"where": where, "error": item}))
            continue
        decision = triage(item, rs, registry)
        click.echo(decision.model_dump_json() if fmt == "json" else table_row(where, decision))
    if bad:
        raise click.exceptions.Exit(EXIT_USAGE)


def _registry_or_none() -> Any:
    """The bundled registry of existing work (the CLI's default; --no-registry skips it)."""
    from engine.registry import load_default_registry

    return load_default_registry()


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@rules_option
@click.option("--workers", type=int, default=None, help="uvicorn workers (default: IOTSEC_WORKERS or 1).")
def serve_cmd(host: str, port: int, rules_dir: Path | None, workers: int | None) -> None:
    """Run the HTTP service (JSON API, OpenAPI at /docs)."""
    import os

    import uvicorn

    if rules_dir is not None:
        os.environ["IOTSEC_RULES_DIR"] = str(rules_dir.resolve())
    from api.settings import get_settings

    settings = get_settings()
    # Fail here, with the rule file's location, rather than inside a worker.
    load_ruleset(settings.resolved_rules_dir()).close()
    from api.observability import prepare_serving

    count = workers or settings.workers
    if count > 1:
        # Each worker holds its own rules: they follow the files, so one reload reaches them all.
        os.environ["IOTSEC_WATCH_RULES"] = "true"
    uvicorn.run("api.main:app", host=host, port=port, workers=count,
                log_level="info", timeout_graceful_shutdown=10, log_config=prepare_serving(count))


def accepted(decision: Decision, accept: list[str]) -> bool:
    """Whether a decision is one of the accepted answers: 'SG17', 'joint', 'joint:SG20', 'other:SG11', 'other'."""
    labels: set[str] = {decision.home}
    if decision.home == "joint":
        labels.add(f"joint:{decision.lead}")
    if decision.home == "other":
        labels.add(f"other:{decision.other_sg}")
    return bool(labels & set(accept))


def label(decision: Decision) -> str:
    return {"joint": f"joint:{decision.lead}", "other": f"other:{decision.other_sg}"}.get(decision.home, decision.home)


@main.command("eval")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@rules_option
@click.option("--no-registry", is_flag=True, help="Decide from the rules alone.")
def eval_cmd(file: Path, rules_dir: Path | None, no_registry: bool) -> None:
    """Accuracy on FILE: JSON Lines with an `accept` list and a `proposal` object per line."""
    registry = None if no_registry else _registry_or_none()
    rs = load_ruleset(rules_dir, registry)
    confusion: Counter[tuple[str, str]] = Counter()
    misses: list[str] = []
    total = good = 0
    with open(file, encoding="utf-8") as stream:
        for where, record in read_json_records(stream, str(file)):
            if isinstance(record, Exception) or not isinstance(record, dict) or "proposal" not in record:
                raise fail(f"{where}: expected an object with 'accept' and 'proposal'")
            try:
                proposal = Proposal.model_validate(record["proposal"])
            except ValidationError as exc:
                raise fail(f"{where}: {_validation_message(exc)}") from None
            accept = [str(a) for a in record.get("accept", [])]
            t = trace(proposal, rs, registry)
            d = t.decision
            total += 1
            expected = accept[0] if accept else "?"
            confusion[(expected, label(d))] += 1
            if accepted(d, accept):
                good += 1
            else:
                fired = ", ".join(r.rule for r in d.reasons)
                misses.append(f"  MISS {record.get('id', where)}: expected {'|'.join(accept)}, got {label(d)} "
                              f"(confidence {d.confidence})\n       title: {proposal.title[:100]}\n       rules: {fired or '(none fired)'}")
    if total == 0:
        raise fail(f"{file}: no items")
    click.echo(f"accuracy: {good}/{total} = {good / total:.1%}")
    rows = sorted({e for e, _ in confusion})
    cols = sorted({g for _, g in confusion})
    width = max([len(c) for c in cols] + [8])
    click.echo("\nconfusion (rows: expected, columns: decided)")
    click.echo(" " * 14 + " ".join(f"{c:>{width}}" for c in cols))
    for r in rows:
        click.echo(f"{r:<14}" + " ".join(f"{confusion[(r, c)] or '.':>{width}}" for c in cols))
    if misses:
        click.echo(f"\nmisses ({len(misses)}):")
        click.echo("\n".join(misses))


from api import cli_rules  # noqa: E402,F401  (registers commands)
from api import cli_registry  # noqa: E402,F401  (registers commands)
from api import cli_workflow  # noqa: E402,F401  (registers commands)
