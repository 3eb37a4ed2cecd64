"""The house rules, read from the source with `ast` (README "Layout", docs/architecture.md):

- rooms may import only the rooms below them (doors > runtime > decision_log > registry/intake
  > core; maintainer > registry, intake, core);
- the core imports no web framework, CLI framework, database driver, process, thread or
  rendering library;
- no import cycle among the project's modules;
- `engine/__init__.py` exports exactly its curated surface.
Each check is a function of the import graph, so the tests below also show it failing on a
deliberate violation.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("engine", "api", "rules", "fixtures")

# room -> the rooms it may import (besides itself). Order matters: the first prefix that matches wins.
ROOMS: dict[str, set[str]] = {
    "api.web": {
        "api",
        "api.runtime",
        "api.decision_log",
        "engine.maintainer",
        "engine.registry",
        "engine.intake",
        "engine",
    },
    "api.cli": {
        "api",
        "api.runtime",
        "api.decision_log",
        "api.web",
        "engine.maintainer",
        "engine.registry",
        "engine.intake",
        "engine",
    },
    "api.runtime": {"api", "api.decision_log", "engine.registry", "engine"},
    "api.decision_log": {"engine"},
    "api": {"engine"},  # api/__init__.py: the version only
    "engine.maintainer": {"engine.registry", "engine.intake", "engine", "rules", "fixtures"},
    "engine.registry": {"engine", "fixtures"},
    "engine.intake": {"engine"},
    "engine": {"rules"},
    "rules": set(),
    "fixtures": set(),
}
CORE_FORBIDDEN = (
    "fastapi",
    "starlette",
    "uvicorn",
    "click",
    "sqlalchemy",
    "alembic",
    "psycopg",
    "subprocess",
    "matplotlib",
    "jinja2",
    "dotenv",
    "pydantic_settings",
)
# Uses the core may not make even of the standard library: the environment, threads, processes.
CORE_FORBIDDEN_CALLS = ("os.environ", "os.getenv", "os.system", "threading.Thread", "multiprocessing")


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            if "migrations" in path.parts:
                continue  # alembic scripts: loaded by alembic, not imported
            found[module_name(path)] = path
    return found


def imports_of(path: Path, name: str, known: Iterable[str] = ()) -> set[str]:
    """Every module `path` imports, absolute, including imports inside functions and TYPE_CHECKING.
    `from a import b` counts as importing a.b when that is one of the `known` modules, else a."""
    modules = set(known)
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            for alias in node.names:
                sub = f"{mod}.{alias.name}"
                out.add(sub if sub in modules else mod)  # `from engine import adapter` imports engine.adapter
    return out


def graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the project modules it imports."""
    return {
        name: {i for i in imports_of(path, name, modules) if i in modules and i != name}
        for name, path in modules.items()
    }


def room_of(module: str) -> str:
    for room in ROOMS:
        if module == room or module.startswith(room + "."):
            return room
    raise AssertionError(f"{module} is in no room")


def layering_violations(edges: dict[str, set[str]]) -> list[str]:
    out = []
    for src, targets in edges.items():
        room = room_of(src)
        for dst in targets:
            other = room_of(dst)
            if other != room and other not in ROOMS[room]:
                out.append(f"{src} ({room}) imports {dst} ({other})")
    return sorted(out)


def core_violations(modules: dict[str, Path]) -> list[str]:
    out = []
    for name, path in modules.items():
        if room_of(name) != "engine":
            continue
        for imp in imports_of(path, name):
            if imp.split(".")[0] in CORE_FORBIDDEN:
                out.append(f"{name} imports {imp}")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                used = f"{node.value.id}.{node.attr}"
                if used.startswith(CORE_FORBIDDEN_CALLS):
                    out.append(f"{name} uses {used}")
    return sorted(set(out))


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def _with(edges: dict[str, set[str]], extra: Iterable[tuple[str, str]]) -> dict[str, set[str]]:
    out = {k: set(v) for k, v in edges.items()}
    for a, b in extra:
        out.setdefault(a, set()).add(b)
    return out


MODULES = project_modules()
EDGES = graph(MODULES)


def test_every_module_is_in_a_room() -> None:
    for name in MODULES:
        room_of(name)


def test_rooms_import_only_the_rooms_below_them() -> None:
    assert layering_violations(EDGES) == []


def test_the_layering_check_fails_on_a_violation() -> None:
    # The core reaching up into a door, and the registry into the maintainer's tools.
    bad = _with(EDGES, [("engine.triage", "api.web.app"), ("engine.registry.index", "engine.maintainer.lint")])
    assert layering_violations(bad) == [
        "engine.registry.index (engine.registry) imports engine.maintainer.lint (engine.maintainer)",
        "engine.triage (engine) imports api.web.app (api.web)",
    ]


def test_the_core_imports_no_framework_driver_thread_or_renderer() -> None:
    assert core_violations(MODULES) == []


def test_no_import_cycle() -> None:
    assert cycles(EDGES) == []


def test_the_cycle_check_fails_on_a_cycle() -> None:
    bad = _with(EDGES, [("engine.ruleset", "engine.facts")])  # facts already imports ruleset
    assert ["engine.facts", "engine.ruleset"] in cycles(bad)


EXPORTED = [
    "Decision",
    "EngineError",
    "Evidence",
    "Flag",
    "InputError",
    "LoadError",
    "Proposal",
    "Reason",
    "RegistryLoadError",
    "RelatedWork",
    "RelatedWorkFinder",
    "RuleIssue",
    "RuleLoadError",
    "RuleSet",
    "RulesetInfo",
    "Trace",
    "TriageError",
    "YamlFileError",
    "bundled_rules_dir",
    "home_label",
    "label_of",
    "load_rules",
    "trace",
    "triage",
]


def exported_problems(module: object, expected: list[str]) -> list[str]:
    names = list(getattr(module, "__all__", []))
    problems = [f"not exported: {n}" for n in expected if n not in names]
    problems += [f"exported but not curated: {n}" for n in names if n not in expected]
    problems += [f"in __all__ but missing: {n}" for n in names if not hasattr(module, n)]
    public = {n for n in vars(module) if not n.startswith("_")}
    problems += [
        f"public but not in __all__: {n}"
        for n in sorted(public - set(names))
        if not isinstance(getattr(module, n), type(ast)) and n not in ("Path", "annotations")
    ]
    return problems


def test_engine_exports_its_curated_surface() -> None:
    import engine

    assert exported_problems(engine, EXPORTED) == []


def test_the_exported_members_check_fails_on_a_change() -> None:
    import engine

    assert exported_problems(engine, [*EXPORTED, "RuleHolder"]) == ["not exported: RuleHolder"]


@pytest.mark.parametrize("name", sorted(n for n in MODULES if room_of(n) == "engine"))
def test_core_modules_say_what_they_are(name: str) -> None:
    assert ast.get_docstring(ast.parse(MODULES[name].read_text(encoding="utf-8"))), f"{name} has no module docstring"
