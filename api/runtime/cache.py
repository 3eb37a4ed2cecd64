"""A cache of what is slow to read and never changes for the same bytes: the parsed and
schema-checked rule files, the registry's validated items, and the registry's fitted precedent
index (so a command needs neither scikit-learn nor a refit when the registry has not changed).

Entries are keyed by a hash of the files' content (and names), the resolved directory, the
source of the engine that reads them, and the Python version, so an entry can never be stale:
any edit, of the data or of the code, is a new key.
The cache is safe to delete at any time; a cache that cannot be read or written is skipped
(everything is then parsed as if it were not there). Only parses without problems are cached:
a broken file is always read again and reported with its locations.

Where: IOTSEC_CACHE_DIR, by default `$XDG_CACHE_HOME/iotsec-triage` (`~/.cache/iotsec-triage`);
`IOTSEC_CACHE_DIR=off` turns it off. Entries are pickles: the cache directory must be as
trusted as the installed code (it is the user's own, created 0700).
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import pickle
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from api import __version__
from engine.registry.index import Registry
from engine.registry.items import WorkItem, read_items
from engine.registry.precedent import PrecedentIndex
from engine.ruleset import Parsed, parse_directory, rule_files
from engine.yamlfile import MAX_FILE_BYTES

T = TypeVar("T")
log = logging.getLogger("iotsec_triage.cache")
MAX_ENTRIES = 32  # old revisions are pruned beyond this, oldest first


@functools.cache
def code_fingerprint() -> bytes:
    """A hash of the engine's source: parses and indexes are only as current as the code that made them."""
    import engine

    digest = hashlib.sha256(__version__.encode())
    root = Path(engine.__file__).resolve().parent
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.digest()


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "iotsec-triage"


class ParseCache:
    """Pickled parse results by content key; `directory` None means off."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory

    def _key(self, kind: str, parts: list[bytes]) -> str:
        digest = hashlib.sha256(f"{kind}\0{sys.version_info[:2]}\0".encode() + code_fingerprint())
        for part in parts:
            digest.update(hashlib.sha256(part).digest())
        return f"{kind}-{digest.hexdigest()[:32]}.pickle"

    def get_or_make(self, kind: str, parts: list[bytes], make: Callable[[], T], keep: Callable[[T], bool]) -> T:
        """The cached value for these parts, or make() (stored when keep(value))."""
        if self.directory is None:
            return make()
        path = self.directory / self._key(kind, parts)
        try:
            with open(path, "rb") as f:
                value: T = pickle.load(f)
            return value
        except FileNotFoundError:
            pass
        except Exception as exc:  # noqa: BLE001 - a damaged or foreign entry: read the files again
            log.info("cache entry %s not used: %s", path.name, type(exc).__name__)
        value = make()
        if keep(value):
            self._store(path, value)
        return value

    def _store(self, path: Path, value: object) -> None:
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            with os.fdopen(fd, "wb") as f:
                pickle.dump(value, f, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, path)  # atomic: a reader sees the old entry or the whole new one
            entries = sorted(path.parent.glob("*.pickle"), key=lambda p: p.stat().st_mtime)
            for old in entries[:-MAX_ENTRIES]:
                old.unlink(missing_ok=True)
        except OSError as exc:
            log.info("cache not written (%s): %s", path.parent, exc.strerror or exc)

    def parse_rules(self, directory: Path) -> Parsed:
        """parse_directory(), from the cache when the same files were parsed before."""
        try:
            files = rule_files(directory)
            if any(p.stat().st_size > MAX_FILE_BYTES for p in files):
                return parse_directory(directory)  # refused there, before anything is read whole
            parts = [str(directory.resolve()).encode()] + [p.name.encode() + b"\0" + p.read_bytes() for p in files]
        except Exception:  # noqa: BLE001 - unreadable or a link out: let parse_directory report it
            return parse_directory(directory)
        return self.get_or_make("rules", parts, lambda: parse_directory(directory), lambda p: not p.issues)

    def registry_items(self, path: Path) -> tuple[list[WorkItem], str]:
        """read_items(), from the cache when the same file was read before."""
        try:
            # The file and every data file beside it: a registry file may name one to import.
            beside = sorted(
                p for p in path.parent.iterdir() if p.is_file() and p.suffix in (".yaml", ".jsonl", ".json")
            )
            if any(p.stat().st_size > MAX_FILE_BYTES for p in [path, *beside]):
                return read_items(path)  # refused there, before anything is read whole
            parts = [path.read_bytes()] + [p.name.encode() + b"\0" + p.read_bytes() for p in beside]
        except OSError:
            return read_items(path)  # says what is wrong, located
        return self.get_or_make("registry", parts, lambda: read_items(path), lambda _: True)

    def precedent_index(self, registry: Registry) -> PrecedentIndex:
        """The registry's fitted precedent index, from the cache when the same items were fitted before."""
        from engine.registry.index import precedent_index_for

        parts = [b"precedent", registry.revision.encode()] if registry.revision else []
        if not parts:
            return precedent_index_for(registry)  # a registry made in memory: nothing to key it by
        return self.get_or_make("precedent", parts, lambda: precedent_index_for(registry), lambda _: True)
