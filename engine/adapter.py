"""The one module that talks to durable_rules, and owns its sharp edges (../DURABLE_RULES.md).

How each measured hazard is kept away from users:
- more than 1,024 live sessions crash the process: every evaluation opens one session per shard
  and deletes it in `finally`, under one process-wide lock, so at most one session is ever live;
  `live_sessions()` lets tests prove nothing leaks.
- 512+ rules in one ruleset hang: rules are packed into shards of at most `shard_size` (<= 500).
- regex alternation misses matches: the compiler emits no `$mt`/`$imt`; text is matched in Python
  (engine/lexicon.py) and the engine only sees integer signals.
- exceptions inside actions are swallowed: no Python action runs inside the engine. Fired rules
  come back as messages that this module reads itself, so any failure is ours and is raised as
  EngineError after the session is deleted.
- `delete_state` after an unmatched fact corrupts the heap: every ruleset has a catch-all rule
  on the marker field `mk` that every fact carries, so every fact matches something.
- negation of a fact derived later in the same session is unreliable (the negated rule is
  already queued when the derived fact arrives; measured): derived facts are instead evaluated
  in layers. A rule that reads a derived fact sits in a later layer than every rule producing it,
  and each layer's fact carries the facts derived before it as ordinary signals.
- threads crash the C core: one lock around every engine call (the C code holds the GIL anyway).
- no ruleset replacement: each loaded rule set compiles to rulesets with fresh unique names,
  freed with `delete_ruleset` when the rule set is closed; no durable Host, so no timer threads.
- session cost grows with the rules in a ruleset: shards are small, facts carry only the signals
  a shard's rules read, and a shard is skipped when none of its rules' key signals is present.
- facts with 255+ properties are rejected, and (measured here) a fact of about 64 properties that
  the rules read aborts the process in free(): a shard may read at most 48 signals, and its fact
  carries exactly those (plus three markers).
"""
from __future__ import annotations

import itertools
import json
import threading
from dataclasses import dataclass, field
from typing import Any, Iterable

import durable_rules_engine as _dre

from engine.errors import CapacityError, EngineError

ENGINE_LOCK = threading.Lock()
MAX_SHARD_RULES = 500
MAX_SHARD_SIGNALS = 48
CATCH_ALL = "__catch_all__"
_names = itertools.count(1)
_sids = itertools.count(1)
_live: dict[int, int] = {}


@dataclass(frozen=True)
class Condition:
    """A rule's condition in engine terms: positive/negative signals, thresholds, derived facts."""

    rule_id: str
    all: tuple[str, ...] = ()
    any: tuple[str, ...] = ()
    none: tuple[str, ...] = ()
    in_title: tuple[str, ...] = ()
    min: tuple[tuple[str, int], ...] = ()
    max: tuple[tuple[str, int], ...] = ()
    derive: tuple[str, ...] = ()
    priority: int = 0
    layer: int = 0

    def signals(self) -> set[str]:
        return set(self.all) | set(self.any) | set(self.none) | set(self.in_title) | {s for s, _ in self.min} | {s for s, _ in self.max}

    def keys(self) -> frozenset[str] | None:
        """Signals of which at least one must be positive for the rule to fire; None if always possible."""
        for s in (*self.all, *self.in_title):
            return frozenset({s})
        for s, n in self.min:
            if n > 0:
                return frozenset({s})
        if self.any:
            return frozenset(self.any)
        return None


def _expression(c: Condition, title_level: int) -> dict[str, Any]:
    terms: list[dict[str, Any]] = [{"k": "b"}]
    terms += [{"$gt": {s: 0}} for s in c.all]
    terms += [{s: 0} for s in c.none]
    terms += [{"$gte": {s: title_level}} for s in c.in_title]
    terms += [{"$gte": {s: n}} for s, n in c.min]
    terms += [{"$lte": {s: n}} for s, n in c.max]
    if c.any:
        terms.append({"$or": [{"$gt": {s: 0}} for s in c.any]})
    return {"$and": terms}


def _definition(conditions: Iterable[Condition], title_level: int) -> dict[str, Any]:
    rules: dict[str, Any] = {}
    for c in conditions:
        rules[c.rule_id] = {"all": [{"m": _expression(c, title_level)}], "pri": c.priority}
    rules[CATCH_ALL] = {"all": [{"m": {"mk": 1}}], "pri": 1_000_000}
    return rules


@dataclass
class Shard:
    name: str
    handle: int
    layer: int
    rule_ids: tuple[str, ...]
    signals: tuple[str, ...]
    keys: frozenset[str] | None  # None: always evaluated


@dataclass
class RuleHost:
    """The compiled rules of one loaded rule set: shards of durable rulesets, freed on close."""

    shards: list[Shard]
    derive: dict[str, tuple[str, ...]]
    closed: bool = False
    evaluations: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def evaluate(self, signals: dict[str, int]) -> list[str]:
        """Rule ids that fired for these signals, in firing order, each once."""
        fired: list[str] = []
        seen: set[str] = set()
        signals = dict(signals)
        positive = {k for k, v in signals.items() if v > 0}
        layer = 0
        with ENGINE_LOCK:
            if self.closed:
                raise EngineError("rule set was closed while in use")
            self.evaluations += 1
            for shard in self.shards:
                if shard.layer != layer:
                    layer = shard.layer
                    for rule_id in fired:
                        for name in self.derive.get(rule_id, ()):
                            signals[name] = 1
                            positive.add(name)
                if shard.keys is not None and shard.keys.isdisjoint(positive):
                    continue
                self._run_shard(shard, signals, fired, seen)
        return fired

    def _run_shard(self, shard: Shard, signals: dict[str, int], fired: list[str], seen: set[str]) -> None:
        sid = str(next(_sids))
        fact: dict[str, Any] = {s: signals.get(s, 0) for s in shard.signals}
        fact.update(mk=1, k="b", sid=sid)
        if _live.get(shard.handle, 0) >= 1:
            raise CapacityError("an evaluation is already live in this shard")
        _live[shard.handle] = _live.get(shard.handle, 0) + 1
        try:
            result = _dre.assert_fact(shard.handle, json.dumps(fact))
            state_handle = result[1]
            message = _dre.start_action_for_state(shard.handle, state_handle)
            pending = message[1] if message else None
            steps = 0
            while pending:
                steps += 1
                if steps > 10_000:
                    raise EngineError("rule evaluation did not settle (10,000 actions)")
                # One action per message, '{"<rule id>": {...facts...}}'; rule ids never contain quotes,
                # so the name is read without parsing the echoed facts.
                rule_id = pending[2:pending.index('"', 2)]
                if rule_id != CATCH_ALL and rule_id not in seen:
                    seen.add(rule_id)
                    fired.append(rule_id)
                pending = _dre.complete_and_start_action(shard.handle, state_handle)
        except (EngineError, CapacityError):
            raise
        except BaseException as exc:  # the C core raises bare Exception with a code; never leak it
            raise EngineError(f"rule engine failed in shard {shard.name}: {type(exc).__name__}: {exc}") from None
        finally:
            try:
                _dre.delete_state(shard.handle, sid)
            except BaseException:  # pragma: no cover - state already gone
                pass
            _live[shard.handle] -= 1

    def close(self) -> None:
        """Free the durable rulesets; later evaluations raise EngineError."""
        with ENGINE_LOCK:
            if self.closed:
                return
            self.closed = True
            for shard in self.shards:
                try:
                    _dre.delete_ruleset(shard.handle)
                except BaseException:  # pragma: no cover
                    pass
                _live.pop(shard.handle, None)

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # pragma: no cover - interpreter shutdown
            pass


def live_sessions() -> int:
    """How many engine sessions are open right now (0 between evaluations)."""
    return sum(_live.values())


def check_definition(conditions: list[Condition], title_level: int) -> str | None:
    """Let the engine itself validate a rule definition; the engine's complaint, or None."""
    try:
        with ENGINE_LOCK:
            handle = _dre.create_ruleset(f"check-{next(_names)}", json.dumps(_definition(conditions, title_level)))
            _dre.delete_ruleset(handle)
    except BaseException as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def pack(conditions: list[Condition], shard_size: int) -> list[list[Condition]]:
    """Rules into shards, layer by layer; within a layer, rules with the same key signal sit together."""
    shard_size = min(shard_size, MAX_SHARD_RULES)

    def sort_key(c: Condition) -> tuple[int, int, str]:
        keys = c.keys()
        return (c.layer, 0, "") if keys is None else (c.layer, 1, min(keys))

    shards: list[list[Condition]] = []
    current: list[Condition] = []
    for c in sorted(conditions, key=sort_key):
        if current and (current[0].layer != c.layer or len(current) >= shard_size or
                        len(_signals(current) | c.signals()) > MAX_SHARD_SIGNALS):
            shards.append(current)
            current = []
        current.append(c)
    if current:
        shards.append(current)
    return shards


def _signals(conditions: list[Condition]) -> set[str]:
    out: set[str] = set()
    for c in conditions:
        out |= c.signals()
    return out


def build_host(conditions: list[Condition], shard_size: int, title_level: int, label: str) -> RuleHost:
    """Compile and register every shard; on any failure free what was registered and raise."""
    shards: list[Shard] = []
    derive = {c.rule_id: c.derive for c in conditions if c.derive}
    try:
        for i, group in enumerate(pack(conditions, shard_size)):
            name = f"{label}-{next(_names)}-{i}"
            with ENGINE_LOCK:
                handle = _dre.create_ruleset(name, json.dumps(_definition(group, title_level)))
            keys_list = [c.keys() for c in group]
            keys = None if any(k is None for k in keys_list) else frozenset().union(*[k for k in keys_list if k])
            shards.append(Shard(name, handle, group[0].layer, tuple(c.rule_id for c in group), tuple(sorted(_signals(group))), keys))
    except BaseException as exc:
        RuleHost(shards, derive).close()
        if isinstance(exc, EngineError):
            raise
        raise EngineError(f"rule engine rejected the rules: {type(exc).__name__}: {exc}") from None
    return RuleHost(shards, derive)
