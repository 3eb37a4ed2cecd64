"""The exceptions of iotsec-triage, one tree, mapped to HTTP and exit codes in one place each.

    TriageError                    base of everything raised on purpose
    ├── RuleLoadError              a rule set could not be loaded; carries every RuleIssue
    ├── EngineError                the rule engine failed while evaluating (never a user's fault)
    ├── CapacityError              too many evaluations in flight; retry later
    └── InputError                 a proposal or a file of proposals is malformed
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RuleIssue:
    """One problem in a rule file, located as precisely as the parser allows."""

    file: str
    line: int
    column: int
    message: str
    value: str | None = None
    suggestion: str | None = None
    code: str = "schema"

    def __str__(self) -> str:
        text = f"{self.file}:{self.line}:{self.column}: {self.message}"
        if self.value is not None:
            text += f" (got {self.value})"
        if self.suggestion:
            text += f" (did you mean {self.suggestion!r}?)"
        return text

    def as_dict(self) -> dict[str, object]:
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "code": self.code,
            "message": self.message,
            "value": self.value,
            "suggestion": self.suggestion,
        }


class TriageError(Exception):
    """Base class of every error iotsec-triage raises on purpose."""


class RuleLoadError(TriageError):
    """A rule set failed to load; nothing of it was applied."""

    def __init__(self, issues: list[RuleIssue]) -> None:
        self.issues = issues
        head = "; ".join(str(i) for i in issues[:5])
        more = f" (+{len(issues) - 5} more)" if len(issues) > 5 else ""
        super().__init__(f"rule set not loaded: {head}{more}")


class EngineError(TriageError):
    """The rule engine failed during an evaluation; the decision was not produced."""


class CapacityError(TriageError):
    """Too many evaluations are in flight at once."""


class InputError(TriageError):
    """A proposal, or a file of proposals, is malformed; `where` says which line or item."""

    def __init__(self, message: str, where: str = "") -> None:
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)
