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
  in layers. A rule that reads a derived fact sits in a later layer than every rule producing it;
  each layer has its own fact, asserted only once the previous layer's actions are all run, and
  carrying the facts derived so far as ordinary signals.
- threads crash the C core: one lock around every engine call (the C code holds the GIL anyway).
- no ruleset replacement: each loaded rule set compiles to rulesets with fresh unique names,
  freed with `delete_ruleset` when the rule set is closed; no durable Host, so no timer threads.
- session cost grows with the rules in a ruleset: a rule set that fits in one ruleset costs one
  session per decision (its layers asserted one after the other into it); a bigger one is split
  into shards, facts carry only the signals a part's rules read, and a part is skipped when none
  of its rules can fire (each rule's most demanding required signal is below its threshold).
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

    def keys(self, title_level: int = 3) -> dict[str, int] | None:
        """A necessary condition: signals with thresholds, one of which must be met for the rule to
        possibly fire; None when the rule may fire on anything (it reads only absences)."""
        required = [(s, 1) for s in self.all] + [(s, title_level) for s in self.in_title] + [(s, n) for s, n in self.min if n > 0]
        if required:
            signal, threshold = max(required, key=lambda r: r[1])  # the most demanding is the most selective
            return {signal: threshold}
        if self.any:
            return {s: 1 for s in self.any}
        return None


def _expression(c: Condition, title_level: int) -> dict[str, Any]:
    terms: list[dict[str, Any]] = [{"k": f"l{c.layer}"}]
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


@dataclass(frozen=True)
class Part:
    """The rules of one layer within a shard, the signals their fact carries, and when to skip them."""

    layer: int
    rule_ids: tuple[str, ...]
    signals: tuple[str, ...]
    keys: dict[str, int] | None  # signal -> lowest threshold some rule needs; None: always evaluated

    def relevant(self, signals: dict[str, int]) -> bool:
        if self.keys is None:
            return True
        get = signals.get
        return any(get(s, 0) >= t for s, t in self.keys.items())


@dataclass
class Shard:
    """One durable ruleset, evaluated in one session: one part per layer it holds, in layer order."""

    name: str
    handle: int
    parts: tuple[Part, ...]

    @property
    def rule_ids(self) -> tuple[str, ...]:
        return tuple(r for p in self.parts for r in p.rule_ids)


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
        with ENGINE_LOCK:
            if self.closed:
                raise EngineError("rule set was closed while in use")
            self.evaluations += 1
            for shard in self.shards:
                self._run_shard(shard, signals, fired, seen)
        return fired

    def _derive(self, fired: list[str], signals: dict[str, int]) -> None:
        """The facts derived so far become plain signals of the next layer's fact."""
        for rule_id in fired:
            for name in self.derive.get(rule_id, ()):
                signals[name] = 1

    def _run_shard(self, shard: Shard, signals: dict[str, int], fired: list[str], seen: set[str]) -> None:
        sid: str | None = None
        try:
            for part in shard.parts:
                self._derive(fired, signals)
                if not part.relevant(signals):
                    continue
                if sid is None:
                    if _live.get(shard.handle, 0) >= 1:
                        raise CapacityError("an evaluation is already live in this shard")
                    _live[shard.handle] = _live.get(shard.handle, 0) + 1
                    sid = str(next(_sids))
                fact: dict[str, Any] = {s: signals.get(s, 0) for s in part.signals}
                fact.update(mk=1, k=f"l{part.layer}", sid=sid)
                self._drain(shard, _dre.assert_fact(shard.handle, json.dumps(fact))[1], fired, seen)
        except (EngineError, CapacityError):
            raise
        except BaseException as exc:  # the C core raises bare Exception with a code; never leak it
            raise EngineError(f"rule engine failed in shard {shard.name}: {type(exc).__name__}: {exc}") from None
        finally:
            if sid is not None:
                try:
                    _dre.delete_state(shard.handle, sid)
                except BaseException:  # pragma: no cover - state already gone
                    pass
                _live[shard.handle] -= 1

    @staticmethod
    def _drain(shard: Shard, state_handle: int, fired: list[str], seen: set[str]) -> None:
        """Run the actions the last fact queued: each is a fired rule, recorded once."""
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


def pack(conditions: list[Condition], shard_size: int) -> list[list[list[Condition]]]:
    """Rules into shards of parts (one part per layer). When every rule fits in one ruleset, one
    shard holds all layers and a decision costs one session; else each layer is packed on its own,
    rules with the same key signal side by side, so that whole shards can be skipped."""
    shard_size = min(shard_size, MAX_SHARD_RULES)
    by_layer: dict[int, list[Condition]] = {}
    for c in conditions:
        by_layer.setdefault(c.layer, []).append(c)
    layers = [by_layer[k] for k in sorted(by_layer)]
    if len(conditions) <= shard_size and all(len(_signals(group)) <= MAX_SHARD_SIGNALS for group in layers):
        return [layers]

    def sort_key(c: Condition) -> tuple[int, str]:
        keys = c.keys()
        return (0, "") if keys is None else (1, min(keys))

    shards: list[list[list[Condition]]] = []
    for group in layers:
        current: list[Condition] = []
        for c in sorted(group, key=sort_key):
            if current and (len(current) >= shard_size or len(_signals(current) | c.signals()) > MAX_SHARD_SIGNALS):
                shards.append([current])
                current = []
            current.append(c)
        if current:
            shards.append([current])
    return shards


def _part(group: list[Condition], title_level: int) -> Part:
    keys: dict[str, int] = {}
    always = False
    for c in group:
        k = c.keys(title_level)
        if k is None:
            always = True
            break
        for signal, threshold in k.items():
            keys[signal] = min(threshold, keys.get(signal, threshold))
    return Part(group[0].layer, tuple(c.rule_id for c in group), tuple(sorted(_signals(group))), None if always else keys)


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
        for i, parts in enumerate(pack(conditions, shard_size)):
            name = f"{label}-{next(_names)}-{i}"
            with ENGINE_LOCK:
                handle = _dre.create_ruleset(name, json.dumps(_definition([c for p in parts for c in p], title_level)))
            shards.append(Shard(name, handle, tuple(_part(p, title_level) for p in parts)))
    except BaseException as exc:
        RuleHost(shards, derive).close()
        if isinstance(exc, EngineError):
            raise
        raise EngineError(f"rule engine rejected the rules: {type(exc).__name__}: {exc}") from None
    return RuleHost(shards, derive)
