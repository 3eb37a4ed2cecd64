"""Commands over the registry of existing work: `landscape`, `related-eval` and `registry import`."""
from __future__ import annotations

from pathlib import Path

import click

from api.cli.common import EXIT_FINDINGS, fail, fail_load, registry_option, rules_option, runtime
from engine.errors import RegistryLoadError
from engine.registry.importer import dump_jsonl, import_records
from engine.registry.items import RegistryFile, default_registry_file, read_imported
from engine.yamlfile import read_model
from engine.maintainer.evaluation import default_pairs_file, evaluate_pairs, load_pairs
from engine.registry import Registry
from engine.registry.index import RELATIVE, THRESHOLD
from engine.registry.landscape import build_landscape
from engine.registry.reports import FORMATS, render
from engine.ruleset import RuleSet

MIN_SCORE = 0.8


def _load(rules_dir: Path | None, registry_file: Path | None) -> tuple[Registry, RuleSet]:
    rt = runtime(rules_dir, registry_file=registry_file)
    assert rt.registry is not None  # built with the registry
    return rt.registry, rt.rules


@click.command("landscape")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="md", show_default=True)
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), default=None, help="Write here instead of stdout.")
@rules_option
@registry_option
def landscape_cmd(fmt: str, out: Path | None, rules_dir: Path | None, registry_file: Path | None) -> None:
    """The landscape of existing work: every item classified by the rules, topics, overlaps, candidates, gaps."""
    registry, rs = _load(rules_dir, registry_file)
    text = render(build_landscape(registry.curated(), rs), fmt)
    if out is None:
        click.echo(text, nl=False)
        return
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise fail(f"cannot write {out}: {exc.strerror or exc}") from None
    click.echo(f"wrote {out} ({fmt}, {len(registry.curated())} items)", err=True)


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
    click.echo(f"pairs: {len(pairs)}; expected ids: {expected}; found ids: {found}; "
               f"threshold {THRESHOLD}, relative {RELATIVE}")
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
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="The imported file to refresh (default: the one the registry file names under `imported`).")
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
            click.echo(f"note: {it.id} is {mine.study_group} in {reg_file.name} (kept by hand, it wins) but {it.study_group} on record")
    if dry_run:
        click.echo("dry run: nothing written")
        return
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(dump_jsonl(report.items), encoding="utf-8")
    except OSError as exc:
        raise fail(f"cannot write {target}: {exc.strerror or exc}") from None
    click.echo(f"wrote {target} ({len(report.items)} items)")
