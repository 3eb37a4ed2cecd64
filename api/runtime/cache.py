"""A cache of what is slow to read and never changes for the same bytes: the parsed and
schema-checked rule files, the registry's validated items and its built text index, and the
registry's fitted precedent index (so a command needs neither scikit-learn nor a refit when the
registry has not changed).

What a command pays on a hit is unpickling, so entries hold nothing that imports more than the
decision needs: the precedent index's sparse rows are stored as their CSR arrays and come back
as `SparseRows`, which multiplies by a vector with numpy alone (the same sums in the same order
as scipy's CSR product, so the same floats); scipy is imported only if something else is asked
of them (fitting a fold's classifier in a leave-one-out evaluation). Large float arrays that are
mostly zeros (the registry's term matrices) are stored by their non-zeros and made whole again
when first read (`MostlyZeros`). Locks are stored as new, unlocked locks (a lock guards one process's state).

Entries are keyed by a hash of the files' content (and names), the resolved directory or file,
the source of the engine that reads them, the Python version and the installed libraries' versions,
so an entry can never be stale: any edit, of the data or of the code, and any upgrade is a new key.
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
import json
import logging
import os
import pickle
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from api import __version__
from engine.registry.index import Registry
from engine.registry.items import read_items
from engine.registry.precedent import PrecedentIndex
from engine.ruleset import Detached, Parsed, RuleSet, detach, load_rules, parse_directory, reattach, rule_files
from engine.yamlfile import MAX_FILE_BYTES

T = TypeVar("T")
log = logging.getLogger("iotsec_triage.cache")
MAX_ENTRIES = 32  # old revisions are pruned beyond this, oldest first
_LOCK = type(threading.Lock())
SPARSE_MIN_SIZE = 65_536  # float arrays this large, mostly zeros, are stored by their non-zeros


class SparseRows:
    """A CSR matrix as its three arrays: `rows @ vector` in numpy (no scipy import); anything else
    (slicing, `.shape` of the scipy object, products with matrices) goes to the scipy matrix,
    made on first such use."""

    def __init__(
        self, data: np.ndarray[Any, Any], indices: np.ndarray[Any, Any], indptr: np.ndarray[Any, Any], shape: Any
    ) -> None:
        self.data, self.indices, self.indptr = data, indices, indptr
        self.shape = tuple(shape)
        self._row_of: np.ndarray[Any, Any] | None = None
        self._csr: Any = None

    def __matmul__(self, other: Any) -> Any:
        vector = np.asarray(other)
        if vector.ndim != 1 or vector.shape[0] != self.shape[1]:
            return self.scipy() @ other
        if self._row_of is None:
            self._row_of = np.repeat(np.arange(self.shape[0], dtype=np.intp), np.diff(self.indptr))
        # Row by row, left to right, products added to 0.0 one at a time: scipy's csr_matvec sum.
        return np.bincount(self._row_of, weights=self.data * vector[self.indices], minlength=self.shape[0])

    def __getitem__(self, key: Any) -> Any:
        return self.scipy()[key]

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):  # never for our own fields (unpickling, copying): no recursion
            raise AttributeError(name)
        return getattr(self.scipy(), name)

    def scipy(self) -> Any:
        """The scipy CSR matrix of these arrays (imports scipy; made once)."""
        if self._csr is None:
            from scipy.sparse import csr_matrix

            self._csr = csr_matrix((self.data, self.indices, self.indptr), shape=self.shape)
        return self._csr

    def __reduce__(self) -> tuple[Any, ...]:
        return (SparseRows, (self.data, self.indices, self.indptr, self.shape))


class _Pickler(pickle.Pickler):
    """Pickles scipy CSR matrices as SparseRows and locks as new locks (see the module's docstring)."""

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, _LOCK):
            return (threading.Lock, ())
        kind = type(obj)
        if kind is np.ndarray and obj.size >= SPARSE_MIN_SIZE and obj.dtype.kind == "f":
            flat = np.flatnonzero(obj)
            if len(flat) * 4 < obj.size:  # mostly zeros (a term matrix): its non-zeros and where they are
                return (MostlyZeros, (obj.shape, obj.dtype.str, flat, obj.ravel()[flat]))
        if kind.__module__.startswith("scipy.sparse") and getattr(obj, "format", None) == "csr":
            return (SparseRows, (obj.data, obj.indices, obj.indptr, obj.shape))
        return NotImplemented


class MostlyZeros:
    """A mostly-zero array stored by its non-zeros, made whole (the same values, in C order) when
    something first reads it: a registry's term matrix that a command never queries (related work
    reads the curated items' one) is never built. Reads go to the whole array."""

    def __init__(
        self, shape: tuple[int, ...], dtype: str, flat: np.ndarray[Any, Any], values: np.ndarray[Any, Any]
    ) -> None:
        self.shape, self.dtype = tuple(shape), np.dtype(dtype)
        self._parts: tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]] | None = (flat, values)
        self._whole: np.ndarray[Any, Any] | None = None
        self._making = threading.Lock()  # the service's threads may read it first at once

    def whole(self) -> np.ndarray[Any, Any]:
        """The array itself (made once, whichever thread reads it first)."""
        whole = self._whole
        if whole is not None:
            return whole
        with self._making:
            if self._whole is None:
                assert self._parts is not None
                flat, values = self._parts
                out = np.zeros(self.shape, dtype=self.dtype)
                out.ravel()[flat] = values
                self._whole, self._parts = out, None
            return self._whole

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray[Any, Any]:
        return self.whole() if dtype is None else self.whole().astype(dtype)

    def __getitem__(self, key: Any) -> Any:
        return self.whole()[key]

    def __setitem__(self, key: Any, value: Any) -> None:
        self.whole()[key] = value

    def __len__(self) -> int:
        return self.shape[0]

    def __matmul__(self, other: Any) -> Any:
        return self.whole() @ other

    def __rmatmul__(self, other: Any) -> Any:
        return other @ self.whole()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):  # never for our own fields (unpickling, copying): no recursion
            raise AttributeError(name)
        return getattr(self.whole(), name)

    def __reduce__(self) -> tuple[Any, ...]:
        whole = self.whole()
        flat = np.flatnonzero(whole)
        return (MostlyZeros, (self.shape, self.dtype.str, flat, whole.ravel()[flat]))


@functools.cache
def code_fingerprint() -> bytes:
    """A hash of the engine's source and of this module: parses and indexes are only as current as
    the code that made them."""
    import engine

    digest = hashlib.sha256(__version__.encode())
    root = Path(engine.__file__).resolve().parent
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    digest.update(b"cache\0" + Path(__file__).read_bytes())  # how entries are stored is code too
    for name in library_versions():
        digest.update(b"lib\0" + name.encode())
    return digest.digest()


def library_versions() -> list[str]:
    """The distributions installed where the libraries whose objects entries pickle live (numpy,
    pydantic, durable_rules; scipy and scikit-learn beside them), as their dist-info names (name and
    version): an upgrade of any is a new key. Read from the directory listing, not from each
    distribution's metadata: a command pays well under a millisecond for it."""
    import durable
    import pydantic

    where = {Path(module.__file__ or ".").resolve().parent.parent for module in (np, pydantic, durable)}
    names: list[str] = []
    for directory in sorted(where):
        try:
            names += (n for n in os.listdir(directory) if n.endswith((".dist-info", ".egg-info")))
        except OSError:
            continue
    return sorted(names)


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
        tmp: str | None = None
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            with os.fdopen(fd, "wb") as f:
                _Pickler(f, protocol=pickle.HIGHEST_PROTOCOL).dump(value)
            os.replace(tmp, path)  # atomic: a reader sees the old entry or the whole new one
            tmp = None
            entries = sorted(path.parent.glob("*.pickle"), key=lambda p: p.stat().st_mtime)
            for old in entries[:-MAX_ENTRIES]:
                old.unlink(missing_ok=True)
        except Exception as exc:  # noqa: BLE001 - unwritable, or a value that does not pickle: not cached
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else f"{type(exc).__name__}: {exc}"
            log.info("cache not written (%s): %s", path.parent, why)
        finally:
            if tmp is not None:  # a half-written entry is never left behind
                Path(tmp).unlink(missing_ok=True)

    def parse_rules(self, directory: Path) -> Parsed:
        """parse_directory(), from the cache when the same files were parsed before."""
        parts = self._rule_parts(directory)
        if parts is None:
            return parse_directory(directory)
        return self.get_or_make("rules", parts, lambda: parse_directory(directory), lambda p: not p.issues)

    @staticmethod
    def _rule_parts(directory: Path) -> list[bytes] | None:
        """The bytes a rules entry is keyed by, or None when parse_directory() must report a problem."""
        try:
            files = rule_files(directory)
            if any(p.stat().st_size > MAX_FILE_BYTES for p in files):
                return None  # refused there, before anything is read whole
            return [str(directory.resolve()).encode()] + [p.name.encode() + b"\0" + p.read_bytes() for p in files]
        except Exception:  # noqa: BLE001 - unreadable or a link out: let parse_directory report it
            return None

    def rule_set(self, directory: Path, known_owners: dict[str, str]) -> RuleSet:
        """load_rules(), compiled once per content: a hit skips the checks and the matchers' build,
        and only registers the durable rulesets again (their state cannot be stored) from the
        conditions stored with the rule set, proved to run as on a first load. A rule set that does
        not load is never stored: it is loaded again, and reported with its locations."""
        parts = self._rule_parts(directory) if self.directory is not None else None
        if parts is None:
            return load_rules(directory, known_owners, parsed=self.parse_rules(directory))
        # The owners feed the rules' citations; file names are shown relative to the working directory.
        parts += [json.dumps(sorted(known_owners.items())).encode(), str(Path.cwd()).encode()]
        assert self.directory is not None
        path = self.directory / self._key("ruleset", parts)
        try:
            with open(path, "rb") as f:
                stored: Detached = pickle.load(f)
            revived = reattach(stored)
            if revived is not None:
                return revived
        except FileNotFoundError:
            pass
        except Exception as exc:  # noqa: BLE001 - a damaged or foreign entry: load the files again
            log.info("cache entry %s not used: %s", path.name, type(exc).__name__)
        rs = load_rules(directory, known_owners, parsed=self.parse_rules(directory))
        self._store(path, detach(rs))
        return rs

    @staticmethod
    def _registry_parts(path: Path) -> list[bytes] | None:
        """The bytes a registry entry is keyed by, or None when read_items() must report a problem."""
        try:
            # The file and every data file beside it: a registry file may name one to import.
            beside = sorted(
                p for p in path.parent.iterdir() if p.is_file() and p.suffix in (".yaml", ".jsonl", ".json")
            )
            if any(p.stat().st_size > MAX_FILE_BYTES for p in [path, *beside]):
                return None  # refused by read_items, before anything is read whole
            # The resolved path too: the registry stored names its file (Registry.file).
            return [str(path.resolve()).encode(), path.read_bytes()] + [
                p.name.encode() + b"\0" + p.read_bytes() for p in beside
            ]
        except OSError:
            return None

    def registry(self, path: Path) -> Registry:
        """The registry of `path` with its text index built (and its curated part's), from the cache
        when the same files were read before."""
        parts = self._registry_parts(path)
        if parts is None:
            return _indexed(path)  # says what is wrong, located
        return self.get_or_make("registry-index", parts, lambda: _indexed(path), lambda _: True)

    def precedent_index(self, registry: Registry) -> PrecedentIndex:
        """The registry's fitted precedent index, from the cache when the same items were fitted before."""
        from engine.registry.index import precedent_index_for

        parts = [b"precedent", registry.revision.encode()] if registry.revision else []
        if not parts:
            return precedent_index_for(registry)  # a registry made in memory: nothing to key it by
        return self.get_or_make("precedent", parts, lambda: _queried(precedent_index_for(registry)), lambda _: True)


def _queried(index: PrecedentIndex) -> PrecedentIndex:
    """The index after one query: what its first query builds (its postings, its word pairs) is
    stored with it, so that a command's first decision neither builds it nor needs scipy for it."""
    if index.items:
        index.from_text(index.items[0].title, sorted(set(index.owners)))
    return index


def _indexed(path: Path) -> Registry:
    items, revision = read_items(path)
    registry = Registry(items, file=str(path), revision=revision)
    registry.curated()  # built now, so that it is cached with the rest
    return registry
