"""The parse cache: used when the bytes are the same, never stale, never caches a broken file,
and never in the way (unwritable or damaged: the files are read as if it were not there)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from api.runtime import cache as cache_module
from api.runtime.cache import ParseCache
from engine import RuleLoadError, bundled_rules_dir, load_rules
from engine.registry.items import default_registry_file


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    calls = {"rules": 0, "registry": 0}
    real_parse, real_read = cache_module.parse_directory, cache_module.read_items

    def parse(directory: Path):  # type: ignore[no-untyped-def]
        calls["rules"] += 1
        return real_parse(directory)

    def read(path: Path):  # type: ignore[no-untyped-def]
        calls["registry"] += 1
        return real_read(path)

    monkeypatch.setattr(cache_module, "parse_directory", parse)
    monkeypatch.setattr(cache_module, "read_items", read)
    return calls


def test_the_same_files_are_parsed_once(tmp_path: Path, rules_copy: Path, counted: dict[str, int]) -> None:
    cache = ParseCache(tmp_path / "c")
    first = cache.parse_rules(rules_copy)
    again = ParseCache(tmp_path / "c").parse_rules(rules_copy)
    assert counted["rules"] == 1
    assert load_rules(rules_copy, parsed=again).revision == load_rules(rules_copy, parsed=first).revision
    first_registry = cache.registry(default_registry_file())
    again_registry = cache.registry(default_registry_file())
    assert counted["registry"] == 1 and again_registry.items == first_registry.items
    assert again_registry.revision == first_registry.revision


def test_an_edit_is_a_new_entry_never_a_stale_one(tmp_path: Path, rules_copy: Path, counted: dict[str, int]) -> None:
    cache = ParseCache(tmp_path / "c")
    before = load_rules(rules_copy, parsed=cache.parse_rules(rules_copy))
    path = rules_copy / "precedents.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("SG17 precedent", "SG17's precedent", 1), encoding="utf-8")
    after = load_rules(rules_copy, parsed=cache.parse_rules(rules_copy))
    assert counted["rules"] == 2 and after.revision != before.revision


def test_a_broken_rule_set_is_not_cached_and_still_reported(
    tmp_path: Path, rules_copy: Path, counted: dict[str, int]
) -> None:
    (rules_copy / "zz_broken.yaml").write_text(
        "schema: iotsec-triage/rules@1\nrules:\n  - id: x.y\n    whn: {}\n", encoding="utf-8"
    )
    cache = ParseCache(tmp_path / "c")
    for _ in range(2):
        with pytest.raises(RuleLoadError) as info:
            load_rules(rules_copy, parsed=cache.parse_rules(rules_copy))
        assert any("zz_broken.yaml" in i.file for i in info.value.issues)
    assert counted["rules"] == 2 and not list((tmp_path / "c").glob("rules-*"))


def test_an_unusable_cache_is_skipped(tmp_path: Path, rules_copy: Path, counted: dict[str, int]) -> None:
    blocked = tmp_path / "file-not-dir"
    blocked.write_text("x")
    assert ParseCache(blocked).parse_rules(rules_copy).catalogue is not None  # cannot write: parsed anyway
    good = ParseCache(tmp_path / "c")
    good.parse_rules(rules_copy)
    (entry,) = (tmp_path / "c").glob("rules-*.pickle")
    entry.write_bytes(b"not a pickle")
    assert good.parse_rules(rules_copy).catalogue is not None and counted["rules"] == 3


def test_off_reads_the_files_every_time(rules_copy: Path, counted: dict[str, int]) -> None:
    off = ParseCache(None)
    off.parse_rules(rules_copy)
    off.parse_rules(rules_copy)
    assert counted["rules"] == 2


def test_settings_turn_it_off_or_move_it(tmp_path: Path) -> None:
    from api.runtime.settings import Settings

    assert Settings(cache_dir="off").resolved_cache_dir() is None
    assert Settings(cache_dir=str(tmp_path)).resolved_cache_dir() == tmp_path


def test_the_bundled_rules_load_through_the_cache(tmp_path: Path) -> None:
    target = tmp_path / "rules"
    shutil.copytree(bundled_rules_dir(), target, ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    cache = ParseCache(tmp_path / "c")
    assert load_rules(target, parsed=cache.parse_rules(target)).rules


def test_a_change_to_the_imported_file_beside_the_registry_is_a_new_entry(
    tmp_path: Path, counted: dict[str, int]
) -> None:
    folder = tmp_path / "registry"
    shutil.copytree(default_registry_file().parent, folder)
    cache = ParseCache(tmp_path / "c")
    cache.registry(folder / "work_items.yaml")
    for extra in folder.glob("*.jsonl"):
        extra.write_text(extra.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    cache.registry(folder / "work_items.yaml")
    assert counted["registry"] == (2 if list(folder.glob("*.jsonl")) else 1)


def test_the_fitted_precedent_index_is_reused_for_the_same_registry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.registry import index as index_module
    from engine.registry import load_default_registry

    calls = {"fit": 0}
    real = index_module.precedent_index_for

    def fit(registry):  # type: ignore[no-untyped-def]
        calls["fit"] += 1
        return real(registry)

    monkeypatch.setattr(index_module, "precedent_index_for", fit)
    registry = load_default_registry()
    first = ParseCache(tmp_path / "c").precedent_index(registry)
    again = ParseCache(tmp_path / "c").precedent_index(registry)
    assert calls["fit"] == 1
    sgs = ["SG17", "SG20", "SG13"]
    assert (
        again.from_text("Security of smart meters", sgs).signals
        == first.from_text("Security of smart meters", sgs).signals
    )


def test_a_cached_precedent_index_decides_alike_without_scipy(tmp_path: Path) -> None:
    """Its rows come back as SparseRows: the same floats as scipy's product, for every item's
    title as the query, and scipy's matrix on demand for anything else."""
    import numpy as np
    from scipy.sparse import csr_matrix

    from api.runtime.cache import SparseRows
    from engine.registry import load_default_registry

    registry = load_default_registry()
    fitted = ParseCache(tmp_path / "c").precedent_index(registry)
    cached = ParseCache(tmp_path / "c").precedent_index(registry)
    rows = cached._rows
    assert isinstance(rows, SparseRows) and isinstance(fitted._rows, csr_matrix)
    sgs = ["SG17", "SG20", "SG13", "SG11"]
    for item in registry.items:
        cols, vals = cached.query(item.title + " " + item.description)
        q = np.zeros(len(cached.vocab))
        q[cols] = vals
        assert np.array_equal(rows @ q, np.asarray(fitted._rows @ q))
        assert cached.signals((cols, vals), sgs) == fitted.signals((cols, vals), sgs)
    mask = np.arange(rows.shape[0]) % 2 == 0
    assert (rows[mask] != fitted._rows[mask]).nnz == 0 and rows.nnz == fitted._rows.nnz


def test_the_registry_comes_back_indexed_and_scores_alike(tmp_path: Path, counted: dict[str, int]) -> None:
    from engine.registry import load_default_registry

    rs = load_rules(bundled_rules_dir())
    built = load_default_registry()
    ParseCache(tmp_path / "c").registry(default_registry_file())
    cached = ParseCache(tmp_path / "c").registry(default_registry_file())
    assert counted["registry"] == 1 and cached.revision == built.revision
    with cached._lock:  # a new lock, not the pickled state of one
        pass
    import numpy as np

    from api.runtime.cache import MostlyZeros

    assert isinstance(cached._matrix, MostlyZeros) and cached._matrix._whole is None  # made when first read
    assert np.array_equal(np.asarray(cached._matrix), built._matrix) and cached._matrix.shape == built._matrix.shape
    for item in built.items[:40]:
        fields = {"title": item.title, "summary": item.description}
        assert (cached.similar(fields, {}, rs) == built.similar(fields, {}, rs)).all()


def _decisions(rs: object, registry: object) -> list[str]:
    from engine import triage
    from engine.maintainer.goldens import bundled_fixtures_dir, fixture_files, load_fixtures

    out = []
    for file in fixture_files(bundled_fixtures_dir()):
        fixtures, _ = load_fixtures(file)
        for fx in fixtures:
            d = triage(fx.proposal, rs, registry)  # type: ignore[arg-type]
            out.append(d.model_dump_json(exclude={"decision_id", "decided_at", "ruleset"}))
    return out


def test_a_compiled_rule_set_comes_back_registered_anew_and_decides_alike(
    tmp_path: Path, rules_copy: Path, counted: dict[str, int]
) -> None:
    from engine.registry import load_default_registry

    registry = load_default_registry()
    owners = registry.owners()
    first = ParseCache(tmp_path / "c").rule_set(rules_copy, owners)
    again = ParseCache(tmp_path / "c").rule_set(rules_copy, owners)
    assert counted["rules"] == 1 and list((tmp_path / "c").glob("ruleset-*"))
    assert again.revision == first.revision and again.loaded_at >= first.loaded_at
    assert {s.handle for s in again.host.shards}.isdisjoint(s.handle for s in first.host.shards)
    assert [s.parts for s in again.host.shards] == [s.parts for s in first.host.shards]
    assert _decisions(again, registry) == _decisions(first, registry)
    first.close()
    assert _decisions(again, None) == _decisions(load_rules(rules_copy, owners), None)  # its own rulesets
    # Other owners of the cited Recommendations: another entry, never the one compiled with the first.
    ParseCache(tmp_path / "c").rule_set(rules_copy, {})
    assert len(list((tmp_path / "c").glob("ruleset-*"))) == 2


def test_a_broken_rule_set_is_never_stored_compiled(tmp_path: Path, rules_copy: Path) -> None:
    (rules_copy / "zz_broken.yaml").write_text(
        "schema: iotsec-triage/rules@1\nrules:\n  - id: x.y\n    whn: {}\n", encoding="utf-8"
    )
    for _ in range(2):
        with pytest.raises(RuleLoadError) as info:
            ParseCache(tmp_path / "c").rule_set(rules_copy, {})
        assert any("zz_broken.yaml" in i.file for i in info.value.issues)
    assert not list((tmp_path / "c").glob("ruleset-*"))


def test_the_same_registry_files_elsewhere_name_their_own_file(tmp_path: Path, counted: dict[str, int]) -> None:
    # Same bytes in two folders: each registry names the file it was read from (Registry.file).
    one, two = tmp_path / "one", tmp_path / "two"
    shutil.copytree(default_registry_file().parent, one)
    shutil.copytree(default_registry_file().parent, two)
    cache = ParseCache(tmp_path / "c")
    first = cache.registry(one / "work_items.yaml")
    second = cache.registry(two / "work_items.yaml")
    assert first.file == str(one / "work_items.yaml") and second.file == str(two / "work_items.yaml")
    assert first.revision == second.revision


def test_a_library_upgrade_is_a_new_key(monkeypatch: pytest.MonkeyPatch) -> None:
    cache = ParseCache(Path("unused"))
    cache_module.code_fingerprint.cache_clear()
    before = cache._key("rules", [b"x"])
    assert any(name.startswith("numpy-") for name in cache_module.library_versions())
    installed = cache_module.library_versions()
    upgraded = [n.replace("numpy-", "numpy-0.") for n in installed]
    monkeypatch.setattr(cache_module, "library_versions", lambda: upgraded)
    cache_module.code_fingerprint.cache_clear()
    try:
        assert cache._key("rules", [b"x"]) != before
    finally:
        monkeypatch.undo()
        cache_module.code_fingerprint.cache_clear()
    assert cache._key("rules", [b"x"]) == before


def test_a_value_that_does_not_pickle_is_not_cached_and_leaves_nothing(tmp_path: Path) -> None:
    cache = ParseCache(tmp_path / "c")
    value = cache.get_or_make("rules", [b"x"], lambda: lambda: None, lambda _: True)  # a lambda: no pickle
    assert callable(value)
    assert list((tmp_path / "c").iterdir()) == []  # no entry, no half-written temporary file


def test_a_mostly_zero_array_is_made_once_when_threads_read_it_first_together(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import threading

    import numpy as np

    from api.runtime.cache import MostlyZeros

    lazy = MostlyZeros((4, 4), "<f8", np.array([1, 6]), np.array([2.0, 3.0]))
    made: list[int] = []
    inside, second_in = threading.Event(), threading.Event()
    real_zeros = np.zeros

    def zeros(*args: object, **kwargs: object) -> object:
        made.append(1)
        if len(made) == 1:
            inside.set()
            second_in.wait(timeout=1)  # a second maker would come in meanwhile (it does not: locked)
        else:
            second_in.set()
        return real_zeros(*args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(cache_module.np, "zeros", zeros)
    got: list[object] = []
    first = threading.Thread(target=lambda: got.append(lazy.whole()))
    first.start()
    assert inside.wait(timeout=20)
    second = threading.Thread(target=lambda: got.append(lazy.whole()))
    second.start()
    first.join(timeout=20)
    second.join(timeout=20)
    monkeypatch.undo()
    assert len(made) == 1 and len(got) == 2 and got[0] is got[1]
    assert np.asarray(got[0]).ravel()[6] == 3.0
