"""Safe YAML reading that keeps line and column numbers, for rule and data files.

Only plain YAML is accepted: no anchors or aliases (a YAML bomb is an alias bomb), no tags (no
object construction, no code), a size cap. Locations are 1-based `line:column`.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import AliasEvent, NodeEvent, ScalarEvent, CollectionStartEvent

from engine.errors import RuleIssue, YamlFileError

MAX_FILE_BYTES = 2_000_000
MAX_EVENTS = 100_000  # 40 times the largest bundled file; parsing that many takes seconds


@dataclass
class YamlDoc:
    """A parsed YAML document and the means to locate any path in it."""

    file: str
    data: Any

    def locate(self, path: Sequence[int | str]) -> tuple[int, int]:
        """1-based (line, column) of the deepest node on `path` that can be found."""
        node = self.data
        line, col = 1, 1
        for key in path:
            try:
                if isinstance(node, CommentedMap) and key in node:
                    ln, cl = node.lc.key(key)[:2]
                    line, col = ln + 1, cl + 1
                    node = node[key]
                elif isinstance(node, CommentedSeq) and isinstance(key, int) and 0 <= key < len(node):
                    ln, cl = node.lc.item(key)[:2]
                    line, col = ln + 1, cl + 1
                    node = node[key]
                else:
                    break
            except (KeyError, IndexError, TypeError, AttributeError):
                break
        return line, col

    def issue(self, path: Sequence[int | str], message: str, *, value: object = None,
              suggestion: str | None = None, code: str = "schema") -> RuleIssue:
        line, col = self.locate(path)
        shown = None if value is None else _short(value)
        return RuleIssue(self.file, line, col, message, shown, suggestion, code)


def _short(value: object, limit: int = 80) -> str:
    text = repr(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def read_yaml(path: Path, display: str | None = None) -> YamlDoc:
    """Read one YAML file safely; raise a list of RuleIssue (via YamlFileError) when it cannot be read."""
    name = display or str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise YamlFileError([RuleIssue(name, 1, 1, f"cannot read file: {exc.strerror or exc}", code="io")]) from None
    if len(raw) > MAX_FILE_BYTES:
        raise YamlFileError([RuleIssue(name, 1, 1, f"file is {len(raw)} bytes, over the {MAX_FILE_BYTES}-byte limit", code="limit")])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise YamlFileError([RuleIssue(name, 1, 1, f"not UTF-8 text (byte {exc.start})", code="encoding")]) from None
    return parse_yaml(text, name)


def parse_yaml(text: str, name: str) -> YamlDoc:
    """Parse YAML text; reject aliases, anchors and tags before anything is constructed."""
    yaml = YAML(typ="rt", pure=True)
    try:
        for count, event in enumerate(yaml.parse(text)):
            if count > MAX_EVENTS:
                raise YamlFileError([RuleIssue(name, 1, 1, "document too large (too many YAML nodes)", code="limit")])
            mark = getattr(event, "start_mark", None)
            line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
            if isinstance(event, AliasEvent):
                raise YamlFileError([RuleIssue(name, line, col, "YAML aliases (*name) are not allowed in rule files", code="alias")])
            if isinstance(event, NodeEvent) and event.anchor:
                raise YamlFileError([RuleIssue(name, line, col, "YAML anchors (&name) are not allowed in rule files", code="alias")])
            if isinstance(event, (ScalarEvent, CollectionStartEvent)) and event.tag:
                raise YamlFileError([RuleIssue(name, line, col, f"YAML tags are not allowed ({event.tag})", code="tag")])
        data = yaml.load(text)
    except YamlFileError:
        raise
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise YamlFileError([RuleIssue(name, line, col, f"invalid YAML: {exc.problem or exc.context}", code="syntax")]) from None
    except (YAMLError, ValueError, RecursionError) as exc:
        raise YamlFileError([RuleIssue(name, 1, 1, f"invalid YAML: {type(exc).__name__}", code="syntax")]) from None
    return YamlDoc(name, data)


def read_model(path: Path | str, model: type[BaseModel], what: str) -> tuple[YamlDoc | None, Any, list[RuleIssue]]:
    """Read one YAML file and validate it against `model`: (document, model or None, located issues)."""
    try:
        doc = read_yaml(Path(path), str(path))
    except YamlFileError as exc:
        return None, None, exc.issues
    if not isinstance(doc.data, dict):
        return doc, None, [doc.issue([], f"{what} must be a mapping with a 'schema' key")]
    value, issues = validate(doc, model)
    return doc, value, issues


def to_plain(value: Any) -> Any:
    """ruamel containers -> plain dicts and lists (what pydantic validates)."""
    if isinstance(value, dict):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_plain(v) for v in value]
    return value


def validate(doc: YamlDoc, model: type[BaseModel], *, base: Sequence[int | str] = ()) -> tuple[Any, list[RuleIssue]]:
    """Validate `doc.data` (or the node at `base`) against a pydantic model, issues located."""
    node: Any = doc.data
    for key in base:
        node = node[key]
    try:
        return model.model_validate(to_plain(node)), []
    except ValidationError as exc:
        return None, [_issue_from_error(doc, model, list(base), err) for err in exc.errors(include_url=False)]


def _issue_from_error(doc: YamlDoc, model: type[BaseModel], base: list[int | str], err: Any) -> RuleIssue:
    loc = [p for p in err["loc"] if not (isinstance(p, str) and ("[" in p or p.startswith("function-")))]
    path = base + loc
    msg = err["msg"]
    suggestion = None
    value = err.get("input")
    if err["type"] == "extra_forbidden" and loc:
        field = str(loc[-1])
        allowed = _fields_at(model, loc[:-1])
        suggestion = did_you_mean(field, allowed)
        msg = f"unknown field {field!r}"
        value = None
    elif err["type"] == "missing" and loc:
        msg = f"missing required field {str(loc[-1])!r}"
        value = None
    elif err["type"] == "literal_error":
        expected = err.get("ctx", {}).get("expected", "")
        options = [o.strip().strip("'") for o in str(expected).replace(" or ", ",").split(",") if o.strip()]
        if isinstance(value, str):
            suggestion = did_you_mean(value, options)
    where = ".".join(str(p) for p in loc) or "document"
    return doc.issue(path, f"{where}: {msg}", value=value, suggestion=suggestion)


def _fields_at(model: type[BaseModel], loc: Sequence[int | str]) -> list[str]:
    """The field names of the (sub)model found by following `loc` from `model`, best effort."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        field = getattr(current, "model_fields", {}).get(part)
        if field is None:
            return []
        current = _inner_model(field.annotation)
    return list(getattr(current, "model_fields", {}).keys())


def _inner_model(annotation: Any) -> Any:
    from typing import get_args
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def did_you_mean(word: str, options: Iterable[str]) -> str | None:
    """The closest option to a misspelt word, if one is close enough."""
    matches = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return matches[0] if matches else None
