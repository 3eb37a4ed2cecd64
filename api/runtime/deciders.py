"""Deciding in worker processes, so that the service's decisions do not share its GIL.

A decision is milliseconds of pure Python. In the server process it holds the GIL that the event
loop needs to parse, validate and answer every other request, so the server decides on one core
however many it has. A DeciderPool keeps a few worker processes ("deciders") that each load the
same rules and registry (from the parse cache, api/runtime/cache.py: a second or so) and decide
one proposal at a time; the server only sends the validated proposal and reads the decision back.
The decider's own side is api/runtime/decider.py.

What does not change: the decision (the same engine, rules and registry: each request names the
rule revision and registry revision it was taken with, and a decider that cannot decide with
exactly those says "stale"), the decision log (written by the server, group commit as before),
reviews (applied by the server).

A decider is started only on what the server decides with: the same code (code_digest: the
engine's and this room's; code changed on disk since the server started is refused), the same
owners of cited Recommendations (the rules are compiled with them, for every request, with the
registry or without) and the same registry.

Faults never lose an answer: a decider that is not ready, busy past CHECKOUT_WAIT, stale,
answering with an error or garbage, dead, or slower than DECIDE_TIMEOUT gives None, and the
caller decides in its own process, as without a pool; nobody queues behind an overdue decider,
and a watchdog kills one whose request is out past its deadline (a write or read blocked on a
stopped decider then ends). A dead or stuck decider is killed and replaced in the background:
at once after one that lived, after a pause that doubles while replacements keep dying young.
A decider runs in a session of its own (a terminal's Ctrl-C reaches the server, which drains)
and exits when the server's end of its pipe closes, so a server killed with -9 leaves none
behind.

Frames (multiprocessing.connection over two pipes, one per direction):
  server -> decider, once: the load spec as JSON ({"rules_dir", "registry_file", "cache_dir",
            "registry", "code", "owners", "registry_revision"})
  decider -> server, once: b"R" + JSON {"revision"} when loaded and checked, or b"E" + the error
  server -> decider: JSON header {"rules", "revision", "registry", "registry_revision"} + b"\\n" + proposal JSON
  decider -> server: b"D" + decision JSON, b"S" + why it cannot (stale), or b"E" + an error
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import queue
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from engine import Decision, Proposal, RuleSet
from engine.registry import Registry

log = logging.getLogger("iotsec_triage.deciders")

DECIDE_TIMEOUT = 10.0  # seconds one request may take in a decider (a new revision loaded included)
CHECKOUT_WAIT = 0.1  # seconds a caller waits for a busy decider before it decides itself
READY_TIMEOUT = 180.0  # seconds a new decider may take to load before it is killed
RESPAWN_PAUSE = (1.0, 60.0)  # first and longest pause before replacing a decider that died
LIVED_LONG = 60.0  # seconds: a decider that died after this long resets the pause
WATCH_EVERY = 0.5  # seconds between the watchdog's looks at the requests out
KEPT_RULE_SETS = 3  # rule revisions a decider keeps loaded (requests in flight across a reload)


def code_digest() -> str:
    """The code a decider decides with: the engine's (the cache's fingerprint) and this room's,
    where the decider is assembled and spoken to."""
    from api.runtime.cache import code_fingerprint

    digest = hashlib.sha256(code_fingerprint())
    for path in sorted(Path(__file__).resolve().parent.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def owners_digest(owners: dict[str, str]) -> str:
    """A digest of the owners a rule set is compiled with (cited Recommendation -> its SG)."""
    return hashlib.sha256(json.dumps(sorted(owners.items())).encode()).hexdigest()


@dataclass(eq=False)
class _Decider:
    proc: subprocess.Popen[bytes]
    to_child: Connection
    from_child: Connection
    pause: float = 0.0  # the pause before it was started (a replacement's; 0 for the first ones)
    ready_at: float = field(default_factory=time.monotonic)
    deadline: float | None = None  # while a request is out: when the watchdog kills it

    def close(self) -> None:
        """Kill the process and close this end of its pipes (by the thread that holds it)."""
        self.stop()
        for conn in (self.to_child, self.from_child):
            try:
                conn.close()
            except OSError:
                pass

    def stop(self) -> None:
        """Kill the process only: a thread using its pipes then sees them end, and closes them."""
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:  # pragma: no cover - a process that survives SIGKILL
            log.warning("decider %s did not exit", self.proc.pid)


class DeciderPool:
    """`size` decider processes for one runtime; decide() is called from worker threads."""

    def __init__(self, spec: dict[str, Any], registry: Registry | None, size: int) -> None:
        self.spec = spec
        self.registry = registry
        self.size = size
        self._idle: queue.Queue[_Decider] = queue.Queue()
        self._live: set[_Decider] = set()
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._starting: set[subprocess.Popen[bytes]] = set()
        self.decided = 0
        self.fallbacks = 0
        self.replaced = 0

    # ------------------------------------------------------------------ life
    def start(self) -> None:
        """Start the deciders in the background: until one is ready, callers decide themselves."""
        for _ in range(self.size):
            self._spawn_later(0.0)
        threading.Thread(target=self._watch, name="decider-watch", daemon=True).start()

    def _watch(self) -> None:
        """Kill a decider whose request is out past its deadline: a blocked write or read of its
        holder then ends (EPIPE, EOF), and the holder replaces it. One thread for the pool, so a
        request costs no timer of its own."""
        while not self._closed.wait(WATCH_EVERY):
            now = time.monotonic()
            with self._lock:
                late = [d for d in self._live if d.deadline is not None and now > d.deadline]
            for decider in late:
                decider.stop()

    def _spawn_later(self, pause: float) -> None:
        threading.Thread(target=self._spawn, args=(pause,), name="decider-start", daemon=True).start()

    def _spawn(self, pause: float) -> None:
        first = pause
        while not self._closed.wait(pause):
            try:
                decider = self._launch()
            except Exception as exc:  # noqa: BLE001 - a decider that cannot start: try again, later
                pause = min(RESPAWN_PAUSE[1], max(RESPAWN_PAUSE[0], 2 * pause))
                log.warning("decider did not start (%s); again in %.0f s", exc, pause)
                continue
            decider.pause = first
            with self._lock:
                if self._closed.is_set():
                    decider.close()
                    return
                self._live.add(decider)
                self._idle.put(decider)
            return

    def _launch(self) -> _Decider:
        fds: list[int] = []
        try:
            fds += os.pipe()  # child_in, to_child
            fds += os.pipe()  # from_child, child_out
        except BaseException:
            for fd in fds:
                os.close(fd)
            raise
        child_in, to_child, from_child, child_out = fds
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
        try:
            # The server's working directory: relative rule and registry paths mean the same there.
            # A session of its own: a terminal's Ctrl-C reaches the server, which drains, not its deciders.
            proc = subprocess.Popen(
                [sys.executable, "-m", "api.runtime.decider", str(child_in), str(child_out)],
                pass_fds=(child_in, child_out),
                env=env,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        except BaseException:
            os.close(to_child)
            os.close(from_child)
            raise
        finally:
            os.close(child_in)
            os.close(child_out)
        decider = _Decider(proc, Connection(to_child, readable=False), Connection(from_child, writable=False))
        with self._lock:
            if self._closed.is_set():
                decider.close()
                raise RuntimeError("the pool is closing")
            self._starting.add(proc)
        try:
            decider.to_child.send_bytes(json.dumps(self.spec).encode())
            if not decider.from_child.poll(READY_TIMEOUT):
                raise TimeoutError(f"not loaded after {READY_TIMEOUT:.0f} s")
            answer = decider.from_child.recv_bytes()
            if answer[:1] != b"R":
                raise RuntimeError(answer[1:].decode(errors="replace"))
        except BaseException:
            decider.close()
            raise
        finally:
            with self._lock:
                self._starting.discard(proc)
        decider.ready_at = time.monotonic()
        return decider

    def _replace(self, decider: _Decider, why: str) -> None:
        """Kill a decider that failed its holder, and start another unless the pool is closing:
        at once after one that lived, after a pause that doubles while replacements die young."""
        decider.close()
        with self._lock:
            self._live.discard(decider)
            if self._closed.is_set():
                return  # shutting down: its end is expected
            self.replaced += 1
        young = decider.pause > 0 and time.monotonic() - decider.ready_at < LIVED_LONG
        pause = min(RESPAWN_PAUSE[1], 2 * decider.pause) if young else RESPAWN_PAUSE[0]
        log.warning("decider %s %s: replaced in %.0f s", decider.proc.pid, why, pause)
        self._spawn_later(pause)

    def close(self) -> None:
        """End every decider: the idle ones here; those in use are killed, and the thread that
        holds one closes its pipes when it sees them end (no pipe is closed under a reader); one
        still loading is killed too."""
        with self._lock:
            self._closed.set()
            live, self._live = self._live, set()
            starting, self._starting = self._starting, set()
            idle: set[_Decider] = set()
            while True:
                try:
                    idle.add(self._idle.get_nowait())
                except queue.Empty:
                    break
        for decider in live:
            if decider in idle:
                decider.close()
            else:
                decider.stop()
        for proc in starting:
            if proc.poll() is None:
                proc.kill()

    def _give_back(self, decider: _Decider) -> None:
        """Return a decider to the idle ones, or end it when the pool closed meanwhile."""
        with self._lock:
            decider.deadline = None
            if not self._closed.is_set() and decider in self._live:
                self._idle.put(decider)
                return
        decider.close()

    def status(self) -> dict[str, int]:
        return {
            "processes": self.size,
            "ready": len(self._live),
            "decided": self.decided,
            "decided_in_server": self.fallbacks,
            "replaced": self.replaced,
        }

    # ------------------------------------------------------------------ deciding
    def decide(self, proposal: Proposal, rs: RuleSet, registry: Any) -> Decision | None:
        """The decision from a decider, or None: then the caller decides in its own process."""
        decision = self._ask(proposal, rs, registry)
        with self._lock:
            if decision is None:
                self.fallbacks += 1
            else:
                self.decided += 1
        return decision

    def _checkout(self) -> _Decider | None:
        """An idle decider, waited for CHECKOUT_WAIT at most (a decision takes milliseconds: one
        not free by then is overdue or crowded, and the caller is better off deciding itself)."""
        if not self._live or self._closed.is_set():
            return None
        try:
            return self._idle.get(timeout=CHECKOUT_WAIT)
        except queue.Empty:
            return None

    def _ask(self, proposal: Proposal, rs: RuleSet, registry: Any) -> Decision | None:
        if registry is not None and registry is not self.registry:
            return None  # a finder of the caller's own: decided where it lives
        decider = self._checkout()
        if decider is None:
            return None
        header = {
            "rules": str(rs.directory),
            "revision": rs.revision,
            "registry": registry is not None,
            "registry_revision": self.registry.revision if self.registry is not None else None,
        }
        decider.deadline = time.monotonic() + DECIDE_TIMEOUT  # the watchdog's, for a blocked write or read
        try:
            decider.to_child.send_bytes(json.dumps(header).encode() + b"\n" + proposal.model_dump_json().encode())
            if not decider.from_child.poll(DECIDE_TIMEOUT):
                self._replace(decider, f"gave no answer in {DECIDE_TIMEOUT:.0f} s")
                return None
            answer = decider.from_child.recv_bytes()
            kind, body = answer[:1], answer[1:]
            if kind not in (b"D", b"S", b"E"):
                raise ValueError(f"an answer of unknown kind {kind!r}")
            decision = Decision.model_validate_json(body) if kind == b"D" else None
        except (OSError, EOFError, ValueError) as exc:  # ValueError: pydantic's, on an answer that is not a decision
            self._replace(decider, f"failed ({type(exc).__name__}: {str(exc)[:200]})")
            return None
        self._give_back(decider)
        if kind == b"E":
            log.warning("decider %s could not decide: %s", decider.proc.pid, body.decode(errors="replace"))
        return decision
