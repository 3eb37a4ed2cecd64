"""What the console script changes for a command's start-up (stdlib only: the group imports it
for --help): the collector, pydantic's plugin discovery and OpenBLAS's threads.

Start-up makes some 100,000 objects that live as long as the process (modules, the rule set, the
registry and its indexes) and next to no garbage cycles, and CPython's collector walks all of
them again and again while they are made: about a tenth of a first decision, plus a last walk
at exit. The console script pauses collection (`pause`) while the command is imported; the
group resumes it once the command is found (`resume`, api.cli.LazyGroup), after moving what
start-up made out of the collector's sight (`gc.freeze`), so that every command runs collected
as usual; `api.cli.common.runtime()` pauses it again while it builds the runtime (`building`).
A caller that did not pause (tests, an embedding program) is left as it is.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from contextlib import contextmanager

_paused = False
_console = False  # pause() stopped collection once: start-up pauses are the console script's to make


def pause() -> None:
    """Stop collecting until resume() (start-up only makes what lives to the end)."""
    global _paused, _console
    if gc.isenabled():
        gc.disable()
        _paused = _console = True


def resume() -> None:
    """Start-up is over: freeze what it made and collect again, if pause() stopped collecting."""
    global _paused
    if _paused:
        gc.freeze()
        gc.enable()
        _paused = False


@contextmanager
def building() -> Iterator[None]:
    """Collection paused again while a command builds its runtime, if the console script paused
    it at start (else left as it is); resumed after, whatever happens."""
    if _console:
        pause()
    try:
        yield
    finally:
        resume()


def finish() -> None:
    """The process is about to end: its last collection need not walk what lives to the end."""
    gc.freeze()


def without_pydantic_plugins() -> None:
    """A command loads no pydantic plugins: finding them reads the entry points of every installed
    distribution when the first model is defined (about as long as a bare interpreter start).
    PYDANTIC_DISABLE_PLUGINS set by the user (empty: load them) is left as it is; `serve` keeps
    them (api.cli.run)."""
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")


def single_threaded_blas() -> None:
    """numpy's OpenBLAS starts one spinning thread per core when it is imported; a command's products
    are vectors against matrices of a few thousand rows, where threads only take the cores from the
    interpreter. OPENBLAS_NUM_THREADS set by the user is left as it is."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
