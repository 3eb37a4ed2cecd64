"""Flag texts: the catalogue's templates filled in one way, and two fillings merged into one."""

from __future__ import annotations

from collections.abc import Mapping


class _Blank(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""


def fill(templates: Mapping[str, str], code: str, default: str, **values: str) -> str:
    """The catalogue's text for `code` (or `default`) with `{name}` placeholders filled; unknown ones blank."""
    template = templates.get(code, default)
    return template.format_map(_Blank(values)).replace("  ", " ").strip()


def merge(first: str, second: str) -> str:
    """Two fillings of one template '... ({detail}).' become one text with both details."""
    prefix = first[: first.rfind("(") + 1] if "(" in first else ""
    if prefix and second.startswith(prefix) and first.endswith(").") and second.endswith(")."):
        return f"{first[:-2]}; {second[len(prefix) :]}"
    return f"{first} {second}"
