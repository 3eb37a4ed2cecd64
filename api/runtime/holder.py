"""The rule set in service: loaded once, swapped whole on reload, the old one kept on failure;
optionally followed on disk by a watcher thread (several workers stay on one revision that way)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from engine.errors import RuleIssue, RuleLoadError
from engine.ruleset import RuleSet, load_rules


def public_issues(issues: list[RuleIssue], base: Path | None) -> list[RuleIssue]:
    """The issues as a client may see them: file names relative to the rule directory (or the bare
    name outside it), and no server path in any message."""
    out = []
    root = Path(base).resolve() if base is not None else None
    for issue in issues:
        path = Path(issue.file)
        shown = path.name
        if root is not None:
            for candidate in (path, path.resolve()):
                try:
                    shown = str(candidate.relative_to(root))
                    break
                except ValueError:
                    continue
        text = issue.message
        for prefix in {str(path.parent), str(root) if root else ""} - {"", "."}:
            text = text.replace(prefix + "/", "").replace(prefix, "")
        out.append(replace(issue, file=path.name if shown in ("", ".") else shown, message=text))
    return out


def files_fingerprint(directory: Path) -> tuple[tuple[str, int, int], ...]:
    """Names, sizes and modification times of a directory's rule files: cheap to read, changes on
    any edit; () when it cannot be read."""
    try:
        return tuple(
            sorted((p.name, st.st_size, st.st_mtime_ns) for p in Path(directory).glob("*.yaml") for st in [p.stat()])
        )
    except OSError:
        return ()


@dataclass
class FailedLoad:
    at: float
    issues: list[RuleIssue]


def iso(epoch: float) -> str:
    """An epoch time as ISO 8601 in UTC (the notation of every time the service shows)."""
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass
class RuleHolder:
    """Holds the serving RuleSet. Readers take `current` once per request and keep it to the end,
    so a reload never changes the rules under a request in flight."""

    directory: Path
    known_owners: Callable[[], dict[str, str]] = field(default=dict)
    # How a directory becomes a RuleSet (given the known owners): load_rules, or a cache of
    # compiled rule sets (api.runtime.cache.ParseCache.rule_set).
    loader: Callable[[Path, dict[str, str]], RuleSet] = load_rules
    _current: RuleSet | None = None
    last_failure: FailedLoad | None = None
    reloads: int = 0
    failures: int = 0
    last_reload: tuple[bool, float] | None = None  # (succeeded, when) of the latest reload
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop_watch: threading.Event | None = None

    def load(self) -> RuleSet:
        """First load; raises RuleLoadError (nothing to fall back on yet)."""
        rs = self._load(Path(self.directory))
        self._current = rs
        return rs

    def _load(self, directory: Path) -> RuleSet:
        return self.loader(directory, self.known_owners())

    @property
    def current(self) -> RuleSet:
        if self._current is None:
            return self.load()
        return self._current

    def reload(self, directory: Path | None = None) -> tuple[RuleSet | None, list[RuleIssue]]:
        """Load a new rule set fully, then swap; on failure keep serving the old one."""
        with self._lock:
            target = directory or self.directory
            try:
                fresh = self._load(Path(target))
            except RuleLoadError as exc:
                self.failures += 1
                self.last_failure = FailedLoad(time.time(), exc.issues)
                self.last_reload = (False, self.last_failure.at)
                return None, exc.issues
            self._current = fresh  # the old RuleSet is freed when its last request drops it
            self.directory = Path(target)
            self.reloads += 1
            self.last_reload = (True, time.time())
            return fresh, []

    def fingerprint(self) -> tuple[tuple[str, int, int], ...]:
        """files_fingerprint() of the rule directory."""
        return files_fingerprint(self.directory)

    def watch(self, interval: float = 2.0) -> threading.Event:
        """Reload whenever the rule files change (a daemon thread); set the returned event to stop.
        With several workers, each watches: a reload sent to one worker reaches the others this way."""
        stop = threading.Event()
        seen = self.fingerprint()

        def loop() -> None:
            nonlocal seen
            while not stop.wait(interval):
                now = self.fingerprint()
                if now and now != seen:
                    seen = now
                    self.reload()

        threading.Thread(target=loop, name="rules-watch", daemon=True).start()
        self._stop_watch = stop
        return stop

    def close(self) -> None:
        """Stop the watcher, if any; the rule set is freed when its last reader drops it."""
        if self._stop_watch is not None:
            self._stop_watch.set()

    def status(self) -> dict[str, Any]:
        rs = self.current
        failure = self.last_failure
        return {
            "version": rs.version,
            "revision": rs.revision,
            "directory": Path(rs.directory).name,
            "loaded_at": iso(rs.loaded_at),
            "loaded_at_epoch": rs.loaded_at,
            "rules": len(rs.rules),
            "concepts": len(rs.concepts),
            "shards": len(rs.host.shards),
            "files": [Path(f).name for f in rs.files],
            "reloads": self.reloads,
            "failed_reloads": self.failures,
            # The latest reload: whether it went through. last_failure stays on record after a later success.
            "last_reload": None
            if self.last_reload is None
            else {"ok": self.last_reload[0], "at": iso(self.last_reload[1])},
            "last_failure": None
            if failure is None
            else {
                "at": iso(failure.at),
                "at_epoch": failure.at,
                "errors": [i.as_dict() for i in public_issues(failure.issues[:50], self.directory)],
            },
        }
