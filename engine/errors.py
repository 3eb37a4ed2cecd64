"""The exceptions of iotsec-triage: one tree, mapped to HTTP in `api/web/errors.py` and to exit
codes in `api/cli/common.py`, each in one place.

    TriageError                    base of everything raised on purpose
    ├── LoadError                  a file could not be loaded; `issues` locate every problem
    │   ├── YamlFileError          a YAML file is unreadable, too big, or not plain YAML
    │   ├── RuleLoadError          a rule set did not load; nothing of it was applied
    │   └── RegistryLoadError      a registry (or labelled-pairs) file did not load
    ├── EngineError                the rule engine failed while evaluating (never a user's fault)
    └── InputError                 a proposal, or a file of proposals, is malformed; `where` says where

A `RuleIssue` is not an exception: it is one located problem (file:line:column, message,
suggestion), the unit that load errors, lint findings and rule-test failures are made of.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RuleIssue:
    """One problem in a file, located as precisely as the parser allows."""

    file: str
    line: int
    column: int
    message: str
    value: str | None = None
    suggestion: str | None = None  # a replacement value ("did you mean ...")
    code: str = "schema"
    hint: str | None = None  # what to do, in words

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"

    def __str__(self) -> str:
        text = f"{self.where}: {self.message}"
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
            "hint": self.hint,
        }


class TriageError(Exception):
    """Base class of every error iotsec-triage raises on purpose."""


class LoadError(TriageError):
    """A file (or a directory of files) could not be loaded; nothing of it was applied."""

    what = "file"

    def __init__(self, issues: list[RuleIssue]) -> None:
        self.issues = issues
        head = "; ".join(str(i) for i in issues[:5])
        more = f" (+{len(issues) - 5} more)" if len(issues) > 5 else ""
        super().__init__(f"{self.what} not loaded: {head}{more}")


class YamlFileError(LoadError):
    """A YAML file could not be read: unreadable, too large, not UTF-8, or not plain YAML."""

    what = "YAML file"


class RuleLoadError(LoadError):
    """A rule set failed to load; nothing of it was applied."""

    what = "rule set"


class RegistryLoadError(LoadError):
    """A registry of existing work (or a labelled-pairs file) failed to load."""

    what = "registry"


class EngineError(TriageError):
    """The rule engine failed during an evaluation; the decision was not produced."""


class InputError(TriageError):
    """A proposal, or a file of proposals, is malformed; `where` says which file, line or item."""

    def __init__(self, message: str, where: str = "") -> None:
        self.where = where
        self.message = message
        super().__init__(f"{where}: {message}" if where else message)
