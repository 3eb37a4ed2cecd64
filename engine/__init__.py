"""iotsec-triage engine: a pure library. No web framework, CLI framework or database driver here."""
from pathlib import Path

from engine.errors import CapacityError, EngineError, InputError, RuleIssue, RuleLoadError, TriageError
from engine.holder import RuleHolder
from engine.models import Decision, Evidence, Flag, Proposal, Reason, RelatedWork, RulesetInfo
from engine.ruleset import RuleSet, load_rules
from engine.triage import Trace, trace, triage

__all__ = [
    "CapacityError", "Decision", "EngineError", "Evidence", "Flag", "InputError", "Proposal", "Reason",
    "RelatedWork", "RuleHolder", "RuleIssue", "RuleLoadError", "RuleSet", "RulesetInfo", "Trace",
    "TriageError", "load_rules", "trace", "triage", "bundled_rules_dir",
]


def bundled_rules_dir() -> Path:
    """The rule directory shipped with the package."""
    import rules

    return Path(rules.__file__).resolve().parent
