"""Safe YAML reading that keeps line and column numbers, for rule and data files.

Only plain YAML is accepted: no anchors or aliases (a YAML bomb is an alias bomb), no tags (no
object construction, no code), a size cap, a nesting cap. Locations are 1-based `line:column`.

Bounds, each checked before the next (and before any tree is built):
- size: the file must be a regular file; its size is read from fstat, and at most
  MAX_FILE_BYTES + 1 bytes are ever read (a 1.5 GB sparse file is refused without reading it);
- nesting of flow collections: one linear scan of the text (`nesting_scan`, quote- and
  comment-aware) refuses more than MAX_DEPTH unclosed [ or { before the YAML parser runs (the
  parser's cost grows with the square of the flow depth: 8 KB of "[" took 23 s);
- nesting of any kind, and node count: the parser's event stream is read with a depth counter and
  stops at the first event beyond MAX_DEPTH or MAX_EVENTS, so nothing the scan misses can cost more.
"""

from __future__ import annotations

import difflib
import os
import re
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from engine.errors import RuleIssue, YamlFileError

MAX_FILE_BYTES = 2_000_000
MAX_EVENTS = 100_000  # 40 times the largest bundled file; parsing that many takes seconds
MAX_DEPTH = 32  # nested collections; the bundled rule files reach 6, registry records 8


@dataclass
class YamlDoc:
    """A parsed YAML document and the means to locate any path in it."""

    file: str
    data: Any

    def locate(self, path: Sequence[int | str]) -> tuple[int, int]:
        """1-based (line, column) of the deepest node on `path` that can be found."""
        from ruamel.yaml.comments import CommentedMap, CommentedSeq  # here: rules from the cache need no YAML

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

    def issue(
        self,
        path: Sequence[int | str],
        message: str,
        *,
        value: object = None,
        suggestion: str | None = None,
        code: str = "schema",
    ) -> RuleIssue:
        line, col = self.locate(path)
        shown = None if value is None else _short(value)
        return RuleIssue(self.file, line, col, message, shown, suggestion, code)


def _short(value: object, limit: int = 80) -> str:
    text = repr(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def read_bounded(path: Path, name: str, limit: int = MAX_FILE_BYTES) -> bytes:
    """A regular file's bytes, never reading more than `limit` + 1 of them; YamlFileError otherwise."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))  # a FIFO must not block the open
    except OSError as exc:
        raise YamlFileError([RuleIssue(name, 1, 1, f"cannot read file: {exc.strerror or exc}", code="io")]) from None
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise YamlFileError([RuleIssue(name, 1, 1, "not a regular file", code="io")])
        if info.st_size > limit:
            raise YamlFileError(
                [RuleIssue(name, 1, 1, f"file is {info.st_size} bytes, over the {limit}-byte limit", code="limit")]
            )
        try:
            raw = f.read(limit + 1)  # the file may have grown since fstat
        except OSError as exc:
            raise YamlFileError(
                [RuleIssue(name, 1, 1, f"cannot read file: {exc.strerror or exc}", code="io")]
            ) from None
    if len(raw) > limit:
        raise YamlFileError([RuleIssue(name, 1, 1, f"file is over the {limit}-byte limit", code="limit")])
    return raw


def read_yaml(path: Path, display: str | None = None) -> YamlDoc:
    """Read one YAML file safely; raise a list of RuleIssue (via YamlFileError) when it cannot be read."""
    name = display or str(path)
    raw = read_bounded(path, name)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise YamlFileError([RuleIssue(name, 1, 1, f"not UTF-8 text (byte {exc.start})", code="encoding")]) from None
    return parse_yaml(text, name)


# What the nesting scan stops at; everything else is skipped by the regular expression engine.
_SCAN_STOPS = re.compile(r"""[\[\]{}'"#\n]""")
_SINGLE_QUOTED_REST = re.compile(r"[^']*(?:''[^']*)*'")
_DOUBLE_QUOTED_REST = re.compile(r'[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_TOKEN_BEFORE = set("[{,:-?")


def nesting_scan(text: str, limit: int = MAX_DEPTH) -> tuple[int, int] | None:
    """(line, column) of the first [ or { that opens more than `limit` flow collections at once, or
    None. One pass, O(len(text)): comments and quoted scalars are skipped (a quote only opens one
    where a token may start, as in YAML), closing brackets close. An approximation of YAML's
    grammar that errs on the side of counting; parse_yaml's depth counter is the exact check."""
    depth = 0
    line, line_start = 1, 0
    pos = 0
    n = len(text)
    search = _SCAN_STOPS.search
    while pos < n:
        m = search(text, pos)
        if m is None:
            return None
        i = m.start()
        ch = text[i]
        pos = i + 1
        if ch == "\n":
            line, line_start = line + 1, pos
        elif ch in "[{":
            depth += 1
            if depth > limit:
                return line, i - line_start + 1
        elif ch in "]}":
            depth = max(0, depth - 1)
        elif ch == "#":
            if i == line_start or text[i - 1] in " \t":
                nl = text.find("\n", pos)
                pos = n if nl < 0 else nl  # the newline itself is handled next
        else:  # a quote: a quoted scalar only where a token may start
            before = text[line_start:i].rstrip(" \t")
            if before and before[-1] not in _TOKEN_BEFORE:
                continue
            if i > line_start and text[i - 1] not in " \t[{,":
                continue
            end = (_SINGLE_QUOTED_REST if ch == "'" else _DOUBLE_QUOTED_REST).match(text, pos)
            if end is None:
                return None  # unterminated: the parser reports it
            skipped = text.count("\n", pos, end.end())
            if skipped:
                line += skipped
                line_start = text.rindex("\n", pos, end.end()) + 1
            pos = end.end()
    return None


def parse_yaml(text: str, name: str) -> YamlDoc:
    """Parse YAML text; reject deep nesting, aliases, anchors and tags before anything is constructed."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError
    from ruamel.yaml.events import AliasEvent, CollectionEndEvent, CollectionStartEvent, NodeEvent, ScalarEvent

    deep = nesting_scan(text)
    if deep is not None:
        raise YamlFileError(
            [RuleIssue(name, deep[0], deep[1], f"nested too deeply (more than {MAX_DEPTH} levels)", code="limit")]
        )
    yaml = YAML(typ="rt", pure=True)
    try:
        depth = 0
        for count, event in enumerate(yaml.parse(text)):
            if count > MAX_EVENTS:
                raise YamlFileError([RuleIssue(name, 1, 1, "document too large (too many YAML nodes)", code="limit")])
            mark = getattr(event, "start_mark", None)
            line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
            if isinstance(event, CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    raise YamlFileError(
                        [RuleIssue(name, line, col, f"nested too deeply (more than {MAX_DEPTH} levels)", code="limit")]
                    )
            elif isinstance(event, CollectionEndEvent):
                depth -= 1
            if isinstance(event, AliasEvent):
                raise YamlFileError(
                    [RuleIssue(name, line, col, "YAML aliases (*name) are not allowed in rule files", code="alias")]
                )
            if isinstance(event, NodeEvent) and event.anchor:
                raise YamlFileError(
                    [RuleIssue(name, line, col, "YAML anchors (&name) are not allowed in rule files", code="alias")]
                )
            if isinstance(event, (ScalarEvent, CollectionStartEvent)) and event.tag:
                raise YamlFileError(
                    [RuleIssue(name, line, col, f"YAML tags are not allowed ({event.tag})", code="tag")]
                )
        data = yaml.load(text)
    except YamlFileError:
        raise
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise YamlFileError(
            [RuleIssue(name, line, col, f"invalid YAML: {exc.problem or exc.context}", code="syntax")]
        ) from None
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
