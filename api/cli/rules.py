"""Rule maintainers' commands: `rules lint`, `rules test`, `rules diff` and `explain`.

Exit codes as everywhere: 0 ok, 1 findings (lint findings, failed fixtures), 2 usage or input.
`rules diff` reports, it does not judge: 0 whenever it could run.
"""

from __future__ import annotations

import itertools
import json
import tempfile
from pathlib import Path

import click
from pydantic import ValidationError

from api.cli.common import EXIT_FINDINGS, fail, no_registry_option, records_from, rules_option, runtime
from engine import InputError, Proposal, bundled_rules_dir
from engine.errors import RuleIssue
from engine.maintainer.diff import DiffReport, base_directory, default_rules, diff, fixture_corpus, jsonl_corpus
from engine.maintainer.explain import explain, render_text
from engine.maintainer.goldens import bundled_fixtures_dir
from engine.maintainer.lint import LintReport, lint_directory
from engine.maintainer.rule_tests import TestReport, fixture_paths, run_fixtures

format_option = click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text for people, json for tools.",
)
rules_dir_argument = click.argument(
    "directory", required=False, type=click.Path(path_type=Path, file_okay=False, exists=True)
)


fixtures_option = click.option(
    "--fixtures",
    "fixtures_path",
    type=click.Path(path_type=Path, exists=True),
    default=None,
    help="A fixture file or a directory of them (default: the bundled fixtures/proposals).",
)


@click.group("rules")
def rules_group() -> None:
    """Check, test and compare rule sets (for rule maintainers)."""


# ---------------------------------------------------------------- lint


def _lint_line(f: RuleIssue) -> list[str]:
    lines = [f"{f.where}: [{f.code}] {f.message}"]
    if f.value is not None:
        lines.append(f"    value: {f.value}")
    if f.suggestion:
        lines.append(f"    did you mean: {f.suggestion!r}")
    if f.hint:
        lines.append(f"    fix: {f.hint}")
    return lines


def render_lint(report: LintReport) -> str:
    """Lint findings, one located block each, then a one-line summary."""
    lines: list[str] = []
    for f in report.findings:
        lines += _lint_line(f)
    where = f"{report.directory}: {len(report.files)} files, {report.rules} rules"
    if report.clean:
        lines.append(f"{where}: clean")
    else:
        counts = report.as_dict()["counts"]
        detail = ", ".join(f"{n} {code}" for code, n in sorted(counts.items()))
        lines.append(f"{where}: {len(report.findings)} finding(s) ({detail})")
    return "\n".join(lines)


@rules_group.command("lint")
@rules_dir_argument
@format_option
def lint_cmd(directory: Path | None, fmt: str) -> None:
    """Check a rule directory (default: the bundled rules): load errors and semantic findings."""
    report = lint_directory(directory or bundled_rules_dir())
    click.echo(json.dumps(report.as_dict(), indent=2) if fmt == "json" else render_lint(report))
    if not report.clean:
        raise click.exceptions.Exit(EXIT_FINDINGS)


# ---------------------------------------------------------------- test


def render_test(report: TestReport, rule_count: int) -> str:
    """One PASS/FAIL line per fixture (differences under a failure), then rule coverage."""
    lines: list[str] = []
    for r in report.results:
        lines.append(f"{'PASS' if r.passed else 'FAIL'}  {r.file}  {r.name}")
        lines += [f"        {d}" for d in r.differences]
    failed = len(report.failed)
    lines.append(f"\n{len(report.results) - failed} passed, {failed} failed")
    rows = report.coverage_rows()
    never = [rid for rid, n in rows if n == 0]
    lines.append(f"\nCoverage: fixtures that fired each rule ({rule_count} rules, {len(never)} never fired)")
    lines += [f"  {n:>4}  {rid}{'   <- never fired' if n == 0 else ''}" for rid, n in rows]
    return "\n".join(lines)


@rules_group.command("test")
@rules_dir_argument
@fixtures_option
@format_option
def test_cmd(directory: Path | None, fixtures_path: Path | None, fmt: str) -> None:
    """Run the fixtures against a rule directory: PASS/FAIL per fixture and rule coverage."""
    rs = runtime(directory, registry=False).rules
    paths = fixture_paths(fixtures_path or bundled_fixtures_dir())
    if not paths:
        raise fail(f"no fixture files (*.yaml) in {fixtures_path}")
    report = run_fixtures(rs, paths)
    if report.issues:
        for issue in report.issues:
            click.echo(str(issue), err=True)
        raise fail(f"{len(report.issues)} problem(s) in the fixture files")
    click.echo(json.dumps(report.as_dict(), indent=2) if fmt == "json" else render_test(report, len(rs.rules)))
    if report.failed:
        raise click.exceptions.Exit(EXIT_FINDINGS)


# ---------------------------------------------------------------- diff

MAX_LOGGED = 20_000


def logged_proposals() -> tuple[list[tuple[str, Proposal]], str | None]:
    """Distinct proposals of the configured decision log, when there is one; none, silently, when there is not."""
    from api.decision_log import DecisionFilter, DecisionLog
    from api.runtime.settings import Settings

    url = Settings().resolved_database_url()
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///") :]).is_file():
        return [], None  # never create an empty log just to read it
    log = DecisionLog(url)
    out: list[tuple[str, Proposal]] = []
    seen: set[str] = set()
    try:
        for record in itertools.islice(log.iter_all(DecisionFilter()), MAX_LOGGED):
            if record.proposal_hash in seen:
                continue
            seen.add(record.proposal_hash)
            try:
                out.append(
                    (f"log:{record.reference or record.decision_id[:12]}", Proposal.model_validate(record.proposal))
                )
            except ValidationError:
                continue  # logged under an older proposal model; nothing to compare
    except Exception as exc:  # any driver or migration failure: diff the rest, say why
        click.echo(
            f"note: decision log not read: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}", err=True
        )
        return [], None
    finally:
        log.close()
    return out, "decision log"


def render_diff(report: DiffReport) -> str:
    """Changed proposals, each with the rules responsible on each side, then the summary tables."""
    b, w = report.base, report.working
    lines = [
        f"base:    {b['directory']}  (version {b['version']}, revision {b['revision']})",
        f"working: {w['directory']}  (version {w['version']}, revision {w['revision']})",
    ]
    rc = report.rule_changes
    changed_rules = [
        f"{label} {', '.join(rc[key])}"
        for key, label in (
            ("modified", "modified:"),
            ("added", "added:"),
            ("removed", "removed:"),
            ("concepts_changed", "lexicon concepts changed:"),
            ("catalogue_changed", "changed:"),
        )
        if rc.get(key)
    ]
    lines.append("rules:   " + ("; ".join(changed_rules) if changed_rules else "no rule differs"))
    lines.append(
        "corpus:  " + ", ".join(f"{n} from {src}" for src, n in report.sources.items()) + f" = {report.total} proposals"
    )
    lines.append("")
    if not report.changes:
        lines.append("No proposal changes home, lead, Questions or flags.")
    touched = {rid: "modified" for rid in rc.get("modified", [])} | {rid: "added" for rid in rc.get("added", [])}

    def named(rules: list[str]) -> str:
        return ", ".join(f"{rid} ({touched[rid]})" if rid in touched else rid for rid in rules)

    for c in report.changes:
        lines.append(f"~ {c.source}")
        lines.append(f'    "{c.title[:100]}"')
        for fname in ("home", "lead", "questions"):
            if fname in c.changed:
                before, after = c.base[fname], c.working[fname]
                if fname == "questions":
                    before, after = ", ".join(before) or "-", ", ".join(after) or "-"
                lines.append(f"    {fname:<10} {str(before):<22} -> {after}")
        if "flags" in c.changed:
            gained = sorted(set(c.working["flags"]) - set(c.base["flags"]))
            lost = sorted(set(c.base["flags"]) - set(c.working["flags"]))
            lines.append(f"    {'flags':<10} " + "  ".join([f"+{x}" for x in gained] + [f"-{x}" for x in lost]))
        lines.append(f"    {'confidence':<10} {c.base['confidence']:<22} -> {c.working['confidence']}")
        lines.append(f"    decided by (base):    {named(c.base_deciding) or '(no rule: undetermined)'}")
        lines.append(f"    decided by (working): {named(c.working_deciding) or '(no rule: undetermined)'}")
        if c.only_base:
            lines.append(f"    fired only under base:    {named(c.only_base)}")
        if c.only_working:
            lines.append(f"    fired only under working: {named(c.only_working)}")
        lines.append("")
    s = report.summary()
    lines.append("Summary")
    lines.append(f"  {'proposals':<28}{s['proposals']:>6}")
    lines.append(f"  {'changed':<28}{s['changed']:>6}")
    for fname, n in s["by_field"].items():
        lines.append(f"    {fname + ' changed':<26}{n:>6}")
    for title, key in (
        ("home moves", "home_moves"),
        ("flag changes", "flag_changes"),
        ("rules involved", "rules_involved"),
    ):
        if s[key]:
            lines.append(f"  {title}")
            lines += [f"    {label:<36}{n:>4}" for label, n in s[key].items()]
    return "\n".join(lines)


@rules_group.command("diff")
@click.option(
    "--base",
    "base",
    required=True,
    help="The rules to compare against: a directory, or a git revision of rules/ (e.g. HEAD).",
)
@click.option(
    "--corpus",
    "corpus_files",
    multiple=True,
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="JSON Lines of proposals (or of objects with a 'proposal' key); repeatable.",
)
@rules_option
@fixtures_option
@click.option("--no-log", is_flag=True, help="Leave the decision log out of the corpus.")
@format_option
def diff_cmd(
    base: str,
    corpus_files: tuple[Path, ...],
    rules_dir: Path | None,
    fixtures_path: Path | None,
    no_log: bool,
    fmt: str,
) -> None:
    """Every proposal whose home, lead, Questions or flags change between --base and the working rules."""
    # Installed (not editable), the bundled rules are in site-packages: the repository one is in counts.
    working_dir = rules_dir or default_rules(bundled_rules_dir(), Path.cwd())
    with tempfile.TemporaryDirectory(prefix="iotsec-base-") as scratch_name:
        try:
            base_dir, base_name = base_directory(base, working_dir, Path(scratch_name))
            corpus: list[tuple[str, Proposal]] = []
            sources: dict[str, int] = {}
            fixtures = fixture_corpus(fixture_paths(fixtures_path or bundled_fixtures_dir()))
            corpus += fixtures
            sources["fixtures"] = len(fixtures)
            logged, log_name = ([], None) if no_log else logged_proposals()
            if log_name:
                corpus += logged
                sources[log_name] = len(logged)
            for path in corpus_files:
                items = jsonl_corpus(path)
                corpus += items
                sources[path.name] = len(items)
        except InputError as exc:
            raise fail(str(exc)) from None
        base_rs = runtime(base_dir, registry=False).rules
        working_rs = runtime(working_dir, registry=False).rules
        try:
            report = diff(base_rs, working_rs, corpus, sources)
        finally:
            base_rs.close()
            working_rs.close()
        report.base["directory"] = base_name
        report.working["directory"] = str(working_dir)
    click.echo(json.dumps(report.as_dict(), indent=2) if fmt == "json" else render_diff(report))


# ---------------------------------------------------------------- explain


def _one_proposal(file: str) -> Proposal:
    """The single proposal of FILE ('-' = stdin), or exit 2 saying what is wrong and where."""
    records = [r for r in records_from(file, "json") if not r.warning]
    if len(records) != 1:
        raise fail(f"{file}: explain takes exactly one proposal, found {len(records)}")
    rec = records[0]
    if rec.proposal is None:
        raise fail(f"{rec.label}: {rec.error}")
    return rec.proposal


@click.command("explain")
@click.argument("file")
@rules_option
@no_registry_option
@format_option
def explain_cmd(file: str, rules_dir: Path | None, no_registry: bool, fmt: str) -> None:
    """Explain the decision on one proposal (FILE: one JSON proposal, '-' reads stdin): facts, rules, precedence."""
    item = _one_proposal(file)
    rt = runtime(rules_dir, registry=not no_registry)
    data = explain(item, rt.rules, rt.registry)
    click.echo(json.dumps(data, indent=2) if fmt == "json" else render_text(data))
