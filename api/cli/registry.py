"""Commands over the registry of existing work: `landscape`, `related-eval` and `registry import`."""

from __future__ import annotations

from pathlib import Path

import click

from api.cli.common import EXIT_FINDINGS, fail, fail_load, registry_option, rules_option, runtime
from engine.errors import RegistryLoadError
from engine.maintainer.evaluation import default_pairs_file, evaluate_pairs, load_pairs
from engine.registry import Registry, load_registry
from engine.registry.importer import dump_jsonl, import_records
from engine.registry.index import RELATIVE, THRESHOLD
from engine.registry.items import RegistryFile, date_key, default_registry_file, read_imported
from engine.registry.landscape import build_landscape, changes_since, diff_items, filter_landscape
from engine.registry.reports import CHANGE_FORMATS, FORMATS, render, render_changes
from engine.ruleset import RuleSet
from engine.yamlfile import read_model

MIN_SCORE = 0.8


def _load(rules_dir: Path | None, registry_file: Path | None) -> tuple[Registry, RuleSet]:
    rt = runtime(rules_dir, registry_file=registry_file)
    assert rt.registry is not None  # built with the registry
    return rt.registry, rt.rules


def _date(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    import datetime as dt

    try:
        dt.date.fromisoformat(date_key(value))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD, YYYY-MM or YYYY)") from None
    return value


@click.command("landscape")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="md", show_default=True)
@click.option(
    "--out", type=click.Path(path_type=Path, dir_okay=False), default=None, help="Write here instead of stdout."
)
@click.option(
    "--since",
    callback=_date,
    default=None,
    metavar="DATE",
    help="List what changed since DATE (new, consented, approved, moved, withdrawn items; changed matrix cells), "
    "from the items' dates.",
)
@click.option("--until", callback=_date, default=None, metavar="DATE", help="With --since: up to DATE instead of now.")
@click.option(
    "--compare",
    "compare",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    metavar="OLD.yaml",
    help="List what changed from an older registry file to the current one.",
)
@click.option("--sg", default=None, help="Only items of this Study Group (e.g. SG17).")
@click.option("--question", default=None, help="Only items of this Question (e.g. Q6/17; 'unknown' = none on record).")
@click.option(
    "--status", default=None, help="Only items with this status ('ongoing' = under study, determined or consented)."
)
@click.option(
    "--aspect", default=None, help="Only items with this security aspect (a lexicon concept, e.g. authentication)."
)
@click.option(
    "--sector", default=None, help="Only items in this sector (a lexicon concept, e.g. smart_grid; cross_sector)."
)
@rules_option
@registry_option
def landscape_cmd(
    fmt: str,
    out: Path | None,
    since: str | None,
    until: str | None,
    compare: Path | None,
    sg: str | None,
    question: str | None,
    status: str | None,
    aspect: str | None,
    sector: str | None,
    rules_dir: Path | None,
    registry_file: Path | None,
) -> None:
    """The landscape of IoT-security work for a JCG meeting: ongoing items, Q6/17 and Q6/20 side by side, the
    aspect x sector matrix, contested items and gaps; with --since or --compare, what changed between two meetings."""
    registry, rs = _load(rules_dir, registry_file)
    if until and not since:
        raise fail("--until needs --since")
    if since and compare:
        raise fail("use either --since or --compare, not both")
    if since or compare:
        if fmt not in CHANGE_FORMATS:
            raise fail(f"what changed renders as {', '.join(CHANGE_FORMATS)}, not {fmt}")
        name = Path(registry.file).name
        if since:
            if until and date_key(until) < date_key(since):
                raise fail("--until is before --since")
            changes = changes_since(registry.curated().items, rs, since, until or "", name)
        else:
            assert compare is not None
            try:
                old = load_registry(compare)
            except RegistryLoadError as exc:
                fail_load(exc)
            changes = diff_items(
                old.curated().items, registry.curated().items, rs, old_name=compare.name, new_name=name
            )
        text = render_changes(changes, fmt)
        count = f"{len(changes.changes)} changes"
    else:
        land = filter_landscape(
            build_landscape(registry.curated(), rs),
            sg=sg,
            question=question,
            status=status,
            aspect=aspect,
            sector=sector,
        )
        text = render(land, fmt)
        count = f"{len(land.items)} items"
    if out is None:
        click.echo(text, nl=False)
        return
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise fail(f"cannot write {out}: {exc.strerror or exc}") from None
    click.echo(f"wrote {out} ({fmt}, {count})", err=True)


@click.command("related-eval")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False), required=False)
@rules_option
@registry_option
def related_eval_cmd(file: Path | None, rules_dir: Path | None, registry_file: Path | None) -> None:
    """Precision and recall of related-work detection on labelled pairs (default: the bundled ones)."""
    registry, rs = _load(rules_dir, registry_file)
    path = file or default_pairs_file()
    try:
        pairs = load_pairs(path, registry)
    except RegistryLoadError as exc:
        fail_load(exc)
    report = evaluate_pairs(pairs, registry, rs)
    expected = sum(len(r.expected) for r in report.results)
    found = sum(len(r.found) for r in report.results)
    click.echo(
        f"pairs: {len(pairs)}; expected ids: {expected}; found ids: {found}; threshold {THRESHOLD}, relative {RELATIVE}"
    )
    click.echo(f"precision: {report.true_positives}/{found} = {report.precision:.3f}")
    click.echo(f"recall:    {report.true_positives}/{expected} = {report.recall:.3f}")
    misses = [r for r in report.results if r.missed or r.extra]
    if misses:
        click.echo(f"\nmisses ({len(misses)}):")
        for r in misses:
            parts = []
            if r.missed:
                parts.append("not found " + ", ".join(r.missed))
            if r.extra:
                parts.append("unexpected " + ", ".join(r.extra))
            click.echo(f"  {r.id}: {'; '.join(parts)}")
    if report.precision < MIN_SCORE or report.recall < MIN_SCORE:
        raise click.exceptions.Exit(EXIT_FINDINGS)


@click.group("registry")
def registry_group() -> None:
    """Maintain the registry of existing work."""


@registry_group.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path, exists=True))
@registry_option
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="The imported file to refresh (default: the one the registry file names under `imported`).",
)
@click.option("--dry-run", is_flag=True, help="Report what would change; write nothing.")
def registry_import_cmd(files: tuple[Path, ...], registry_file: Path | None, out: Path | None, dry_run: bool) -> None:
    """Refresh the imported Recommendations from FILES: JSON Lines (id, title, study_group,
    owner_from, published, status, source) or relaton-data-itu YAML records (files or directories).
    Facts only are kept (never an abstract), merged with the hand-kept fields of items already imported."""
    reg_file = registry_file or default_registry_file()
    doc, model, issues = read_model(reg_file, RegistryFile, "a registry file")
    if model is None:
        fail_load(RegistryLoadError(issues))
    target = out or (reg_file.parent / model.imported if model.imported else None)
    if target is None:
        raise fail(f"{reg_file} names no `imported` file: give --out")
    try:
        existing = read_imported(target) if target.exists() else []
        report = import_records(list(files), existing)
    except RegistryLoadError as exc:
        fail_load(exc)
    for line in report.lines():
        click.echo(line)
    hand = {it.id: it for it in model.items}
    for it in report.items:
        mine = hand.get(it.id)
        if mine is not None and mine.study_group != it.study_group:
            click.echo(
                f"note: {it.id} is {mine.study_group} in {reg_file.name} (kept by hand, it wins) but "
                f"{it.study_group} on record"
            )
    if dry_run:
        click.echo("dry run: nothing written")
        return
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(dump_jsonl(report.items), encoding="utf-8")
    except OSError as exc:
        raise fail(f"cannot write {target}: {exc.strerror or exc}") from None
    click.echo(f"wrote {target} ({len(report.items)} items)")
