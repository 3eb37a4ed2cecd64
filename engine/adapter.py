"""The one module that talks to durable_rules, and owns its sharp edges (docs/durable-rules.md).

How each measured hazard is kept away from users:
- more than 1,024 live sessions crash the process, and a session costs more to create and
  delete the more rules its ruleset holds (docs/durable-rules.md: 80-160 us at 100 rules): each shard
  keeps exactly one session, opened on first use and reused by every evaluation, under one
  process-wide lock. An evaluation asserts its facts, runs the actions they queue, then retracts
  them, so the session is empty again between evaluations (measured: the fired rules are the
  same as with a fresh session, and memory stays flat over 200,000 evaluations). Any failure
  deletes the session instead, and the next evaluation opens a new one. `open_sessions()` and
  `leftover_facts()` let tests prove both.
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
- evaluation cost grows with the shards a decision touches: a rule set that fits in one ruleset
  is one shard (its layers asserted one after the other into its session); a bigger one is split
  into shards, facts carry only the signals a part's rules read, and a part is skipped when none
  of its rules can fire (each rule's required signals are checked against their thresholds).
- facts with 255+ properties are rejected, and (measured here) a fact of about 64 properties that
  the rules read aborts the process in free(): a shard may read at most 48 signals, and its fact
  carries at most those (plus three markers). A rule may read at most MAX_RULE_SIGNALS (32), so
  that it always fits in a shard; build_host refuses a part over MAX_SHARD_SIGNALS before any
  fact is asserted.
- whatever else the engine refuses or fails on (a number it cannot hold, a definition it
  compiles but cannot run) would otherwise surface on the first proposal that reaches the rule:
  `prove` runs every loaded rule set before it is used. Each part is asserted with its largest
  fact (every signal it reads present), and each rule with a fact that satisfies its conditions,
  through the same path evaluations take; the rule must fire and must not be skipped by the index.
  What fails is reported per rule (the loader locates it as file:line).
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import durable_rules_engine as _dre

from engine.errors import EngineError

# Re-entrant: a rule set dropped while this thread evaluates (its __del__ closing it) must not deadlock.
ENGINE_LOCK = threading.RLock()
MAX_SHARD_RULES = 500
MAX_SHARD_SIGNALS = 48
MAX_RULE_SIGNALS = 32  # distinct signals one rule reads; well under MAX_SHARD_SIGNALS
CATCH_ALL = "__catch_all__"
_PLAIN_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")
_names = itertools.count(1)
_sids = itertools.count(1)
_open: set[tuple[int, str]] = set()


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
        return (
            set(self.all)
            | set(self.any)
            | set(self.none)
            | set(self.in_title)
            | {s for s, _ in self.min}
            | {s for s, _ in self.max}
        )

    def needs(self, title_level: int = 3) -> tuple[tuple[tuple[str, int], ...], ...] | None:
        """Necessary conditions for the rule to fire: alternatives, each a tuple of (signal, lowest
        value) that must all hold, the most demanding first; None when the rule may fire on
        anything (it reads only absences or upper bounds)."""
        required: dict[str, int] = {}
        for s, n in [(s, 1) for s in self.all] + [(s, title_level) for s in self.in_title] + list(self.min):
            if n > 0:
                required[s] = max(n, required.get(s, 0))
        if required:
            return (tuple(sorted(required.items(), key=lambda r: (-r[1], r[0]))),)
        if self.any:
            return tuple(((s, 1),) for s in self.any)
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
    """The rules of one layer within a shard, and the signals they read."""

    number: int  # unique within its host
    layer: int
    rule_ids: tuple[str, ...]
    signals: frozenset[str]
    # Signals some rule may read at 0 and still hold (`none`, `max`, `min` of 0): the fact carries
    # them even at 0. Any other signal at 0 is left out, and every other test reads a missing
    # signal as false, as it would read 0: facts stay small, and a 13-signal fact costs the engine
    # about 10 us against 27 us for 51 (measured).
    zeros: tuple[str, ...] = ()

    def fact(self, members: list[tuple[str, str]], signals: dict[str, int], sid: str) -> str:
        """This part's fact as JSON, written directly from the layer's non-zero signals already
        written as members (`"name":value`): names are checked plain words (see build_host) and
        values integers (as extract and derive make them), so nothing needs escaping."""
        reads = self.signals
        items = [member for name, member in members if name in reads]
        items += [f'"{name}":0' for name in self.zeros if not signals.get(name)]
        items.append(f'"mk":1,"k":"l{self.layer}","sid":"{sid}"')
        return "{" + ",".join(items) + "}"


@dataclass
class Shard:
    """One durable ruleset and its one reusable session: one part per layer it holds, in layer order."""

    name: str
    handle: int
    parts: tuple[Part, ...]
    sid: str | None = None  # the open session, empty between evaluations; None until first use

    @property
    def rule_ids(self) -> tuple[str, ...]:
        return tuple(r for p in self.parts for r in p.rule_ids)


# For each layer: signal -> [(part number, lowest value, the other necessary signals)], and the
# parts holding some rule that may fire on anything.
Index = dict[int, tuple[dict[str, list[tuple[int, int, tuple[tuple[str, int], ...]]]], frozenset[int]]]


@dataclass
class RuleHost:
    """The compiled rules of one loaded rule set: shards of durable rulesets, freed on close."""

    shards: list[Shard]
    derive: dict[str, tuple[str, ...]]
    index: Index = field(default_factory=dict)
    closed: bool = False
    evaluations: int = 0

    def evaluate(self, signals: dict[str, int]) -> list[str]:
        """Rule ids that fired for these signals, in firing order, each once."""
        fired: list[str] = []
        seen: set[str] = set()
        signals = dict(signals)
        # layer -> (the parts worth asserting, its non-zero signals as JSON members), worked out on reaching it
        layers: dict[int, tuple[set[int], list[tuple[str, str]]]] = {}

        def members(part: Part) -> list[tuple[str, str]] | None:
            state = layers.get(part.layer)
            if state is None:
                # Every earlier layer has run (shards and parts are in layer order): its derived
                # facts become plain signals of this layer's facts.
                self._derive(fired, signals)
                state = layers[part.layer] = (
                    self._relevant(part.layer, signals),
                    [(n, f'"{n}":{v}') for n, v in signals.items() if v],
                )
            return state[1] if part.number in state[0] else None

        with ENGINE_LOCK:
            if self.closed:
                raise EngineError("rule set was closed while in use")
            self.evaluations += 1
            for shard in self.shards:
                self._run_shard(shard, members, signals, fired, seen)
        return fired

    def _derive(self, fired: list[str], signals: dict[str, int]) -> None:
        for rule_id in fired:
            for name in self.derive.get(rule_id, ()):
                signals[name] = 1

    def _relevant(self, layer: int, signals: dict[str, int]) -> set[int]:
        """The parts of a layer with at least one rule whose necessary conditions hold."""
        by_signal, always = self.index.get(layer, ({}, frozenset()))
        out = set(always)
        get = signals.get
        for name, value in signals.items():
            if not value:
                continue
            for number, lowest, rest in by_signal.get(name, ()):  # lowest first
                if lowest > value:
                    break
                if number in out:
                    continue
                for other, n in rest:
                    if get(other, 0) < n:
                        break
                else:
                    out.add(number)
        return out

    def _run_shard(
        self,
        shard: Shard,
        members: Callable[[Part], list[tuple[str, str]] | None],
        signals: dict[str, int],
        fired: list[str],
        seen: set[str],
    ) -> None:
        """Assert the fact of each part worth it into the shard's session, in layer order, each
        once the previous one's actions have run; then retract them all."""
        asserted: list[str] = []
        try:
            for part in shard.parts:
                written = members(part)
                if written is None:
                    continue
                if shard.sid is None:
                    shard.sid = str(next(_sids))
                    _open.add((shard.handle, shard.sid))
                text = part.fact(written, signals, shard.sid)
                asserted.append(text)
                self._drain(shard, _dre.assert_fact(shard.handle, text)[1], fired, seen)
            while asserted:
                # Retracting queues no action: every rule reads one fact and none negates a pattern.
                _dre.retract_fact(shard.handle, asserted[-1])
                asserted.pop()
        except EngineError:
            raise
        except BaseException as exc:  # the C core raises bare Exception with a code; never leak it
            raise EngineError(f"rule engine failed in shard {shard.name}: {type(exc).__name__}: {exc}") from None
        finally:
            if asserted:  # something failed half-way: the session and whatever it holds go
                _discard(shard)

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
            rule_id = pending[2 : pending.index('"', 2)]
            if rule_id != CATCH_ALL and rule_id not in seen:
                seen.add(rule_id)
                fired.append(rule_id)
            pending = _dre.complete_and_start_action(shard.handle, state_handle)

    def close(self) -> None:
        """Free the sessions and the durable rulesets; later evaluations raise EngineError."""
        with ENGINE_LOCK:
            if self.closed:
                return
            self.closed = True
            for shard in self.shards:
                _discard(shard)
                try:
                    _dre.delete_ruleset(shard.handle)
                except BaseException:  # pragma: no cover
                    pass

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # pragma: no cover - interpreter shutdown
            pass


def _discard(shard: Shard) -> None:
    """Delete a shard's session (caller holds ENGINE_LOCK); the next evaluation opens a new one."""
    if shard.sid is None:
        return
    _open.discard((shard.handle, shard.sid))
    try:
        _dre.delete_state(shard.handle, shard.sid)
    except BaseException:  # pragma: no cover - state already gone
        pass
    shard.sid = None


def open_sessions() -> int:
    """Engine sessions open in this process: at most one per shard of each loaded rule set."""
    return len(_open)


def leftover_facts(host: RuleHost) -> int:
    """Facts still held by the host's sessions; 0 between evaluations."""
    with ENGINE_LOCK:
        return sum(len(json.loads(_dre.get_facts(s.handle, s.sid))) for s in host.shards if s.sid is not None)


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
    shard holds all layers and a decision touches one session; else each layer is packed on its
    own, each rule into the shard whose signals it grows least, so that rules that fire together
    share shards and the others can be skipped whole."""
    shard_size = min(shard_size, MAX_SHARD_RULES)
    by_layer: dict[int, list[Condition]] = {}
    for c in conditions:
        by_layer.setdefault(c.layer, []).append(c)
    layers = [by_layer[k] for k in sorted(by_layer)]
    if len(conditions) <= shard_size and all(len(_signals(group)) <= MAX_SHARD_SIGNALS for group in layers):
        return [layers]

    def sort_key(c: Condition) -> tuple[int, str]:
        needs = c.needs()
        return (0, "") if needs is None else (1, needs[0][0][0])

    shards: list[list[list[Condition]]] = []
    for group in layers:
        # Best fit: each rule joins the shard whose signals it adds fewest to, so that rules
        # reading the same signals (and so likely to fire together) share a shard.
        open_: list[tuple[list[Condition], set[str]]] = []
        for c in sorted(group, key=sort_key):
            reads = c.signals()
            best: tuple[int, int] | None = None
            for i, (rules, signals) in enumerate(open_):
                growth = len(reads - signals)
                if (
                    len(rules) < shard_size
                    and len(signals) + growth <= MAX_SHARD_SIGNALS
                    and (best is None or growth < best[0])
                ):
                    best = (growth, i)
            if best is None:
                open_.append(([c], set(reads)))
            else:
                rules, signals = open_[best[1]]
                rules.append(c)
                signals |= reads
        shards += [[rules] for rules, _ in open_]
    return shards


def _signals(conditions: list[Condition]) -> set[str]:
    out: set[str] = set()
    for c in conditions:
        out |= c.signals()
    return out


def build_host(conditions: list[Condition], shard_size: int, title_level: int, label: str) -> RuleHost:
    """Compile and register every shard; on any failure free what was registered and raise."""
    odd = sorted(
        n for n in _signals(conditions) | {d for c in conditions for d in c.derive} if not _PLAIN_NAME.match(n)
    )
    if odd:  # facts are written as JSON by hand (Part.fact): names must need no escaping
        raise EngineError(f"signal names must be plain words: {', '.join(map(repr, odd[:5]))}")
    wide = [c.rule_id for c in conditions if len(c.signals()) > MAX_RULE_SIGNALS]
    if wide:  # the loader reports these located; this is the adapter's own guard
        raise EngineError(f"rules reading more than {MAX_RULE_SIGNALS} signals: {', '.join(wide[:5])}")
    shards: list[Shard] = []
    derive = {c.rule_id: c.derive for c in conditions if c.derive}
    by_layer: dict[int, tuple[dict[str, list[tuple[int, int, tuple[tuple[str, int], ...]]]], set[int]]] = {}
    numbers = itertools.count()
    try:
        for i, groups in enumerate(pack(conditions, shard_size)):
            name = f"{label}-{next(_names)}-{i}"
            with ENGINE_LOCK:
                handle = _dre.create_ruleset(name, json.dumps(_definition([c for g in groups for c in g], title_level)))
            parts: list[Part] = []
            for group in groups:
                if len(_signals(group)) > MAX_SHARD_SIGNALS:  # pack() never makes one; never assert one
                    raise EngineError(
                        f"a shard part reads {len(_signals(group))} signals, more than {MAX_SHARD_SIGNALS}"
                    )
                zeros = tuple(
                    sorted(
                        {n for c in group for n in (*c.none, *(m for m, _ in c.max), *(m for m, k in c.min if k <= 0))}
                    )
                )
                part = Part(
                    next(numbers), group[0].layer, tuple(c.rule_id for c in group), frozenset(_signals(group)), zeros
                )
                by_signal, always = by_layer.setdefault(part.layer, ({}, set()))
                for c in group:
                    needs = c.needs(title_level)
                    if needs is None:
                        always.add(part.number)
                    for (key, lowest), *rest in needs or ():
                        by_signal.setdefault(key, []).append((part.number, lowest, tuple(rest)))
                parts.append(part)
            shards.append(Shard(name, handle, tuple(parts)))
    except BaseException as exc:
        RuleHost(shards, derive).close()
        if isinstance(exc, EngineError):
            raise
        raise EngineError(f"rule engine rejected the rules: {type(exc).__name__}: {exc}") from None
    for by_signal, _ in by_layer.values():
        for entries in by_signal.values():
            entries.sort(key=lambda e: e[1])
    index = {layer: (by_signal, frozenset(always)) for layer, (by_signal, always) in by_layer.items()}
    return RuleHost(shards, derive, index)


def example(c: Condition, title_level: int) -> tuple[dict[str, int], bool]:
    """Signals that satisfy a condition with the smallest values, and whether they do (False when
    its tests contradict each other: then they are only its positive signals)."""
    signals: dict[str, int] = {}

    def need(name: str, value: int) -> None:
        if value > signals.get(name, 0):
            signals[name] = value

    for name in c.all:
        need(name, 1)
    for name in c.in_title:
        need(name, title_level)
    for name, n in c.min:
        need(name, n)
    if c.any and not any(signals.get(name, 0) > 0 for name in c.any):
        ceilings = dict(c.max)
        free = [n for n in c.any if n not in c.none and ceilings.get(n, 1) >= 1]
        need(free[0] if free else c.any[0], 1)
    satisfiable = all(signals.get(n, 0) == 0 for n in c.none) and all(signals.get(n, 0) <= high for n, high in c.max)
    return signals, satisfiable


def prove(host: RuleHost, conditions: list[Condition], title_level: int) -> list[tuple[str, str]]:
    """Run every part and every rule of a freshly built host once (see the module docstring):
    [(rule id, what went wrong)], empty when the rule set runs. The sessions it opened are deleted
    again: a rule set loaded only to be checked (lint) holds none."""
    by_id = {c.rule_id: c for c in conditions}
    problems: list[tuple[str, str]] = []
    with ENGINE_LOCK:
        for shard in host.shards:
            for part in shard.parts:
                found = len(problems)
                for rule_id in part.rule_ids:
                    signals, satisfiable = example(by_id[rule_id], title_level)
                    fired, failure = _exercise(host, shard, part, signals)
                    if failure is not None:
                        problems.append((rule_id, f"the rule engine failed on a fact for this rule: {failure}"))
                    elif satisfiable and rule_id not in fired:
                        problems.append(
                            (rule_id, "the rule engine did not fire this rule on a fact that satisfies its conditions")
                        )
                    elif satisfiable and part.number not in host._relevant(part.layer, signals):
                        problems.append(
                            (rule_id, "evaluations would skip this rule on a fact that satisfies its conditions")
                        )
                _, failure = _exercise(host, shard, part, dict.fromkeys(part.signals, 1))
                if failure is not None and len(problems) == found:  # no one rule to blame: the widest
                    widest = max(part.rule_ids, key=lambda r: (len(by_id[r].signals()), r))
                    problems.append(
                        (
                            widest,
                            f"the rule engine refused the largest fact of this rule's shard "
                            f"({len(part.signals)} signals, read by {len(part.rule_ids)} rules): {failure}",
                        )
                    )
            _discard(shard)
    return problems


def _exercise(host: RuleHost, shard: Shard, part: Part, signals: dict[str, int]) -> tuple[list[str], str | None]:
    """Assert one part's fact for `signals` as an evaluation would: (rules fired, failure or None)."""
    written = [(n, f'"{n}":{v}') for n, v in signals.items() if v]
    fired: list[str] = []
    try:
        host._run_shard(shard, lambda p: written if p is part else None, signals, fired, set())
    except EngineError as exc:
        return fired, str(exc)
    return fired, None
