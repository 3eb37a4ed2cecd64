"""iotsec-triage engine: the decision core, a pure library (no web framework, CLI framework,
database driver, environment, threads or subprocesses here). This is its public surface."""

from pathlib import Path

from engine.errors import (
    EngineError,
    InputError,
    LoadError,
    RegistryLoadError,
    RuleIssue,
    RuleLoadError,
    TriageError,
    YamlFileError,
)
from engine.labels import home_label, label_of
from engine.models import Decision, Evidence, Flag, Proposal, Reason, RelatedWork, RulesetInfo
from engine.ruleset import RuleSet, load_rules
from engine.triage import RelatedWorkFinder, Trace, trace, triage

__all__ = [
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


def bundled_rules_dir() -> Path:
    """The rule directory shipped with the package."""
    import rules

    return Path(rules.__file__).resolve().parent
