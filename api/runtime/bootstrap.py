"""The one composition root: Settings in, the registry, the rules (with the registry's owners) and
the decision log out. The service, every command and the benchmarks assemble the core here, so
they all honour the same settings (IOTSEC_RULES_DIR, IOTSEC_REGISTRY_FILE, IOTSEC_DATABASE_URL).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from api.runtime.cache import ParseCache
from api.runtime.holder import RuleHolder
from api.runtime.settings import Settings, get_settings
from engine import Decision, Proposal, RuleSet, triage
from engine.registry import Registry, default_registry_file

if TYPE_CHECKING:
    from api.decision_log import DecisionLog
    from api.runtime.deciders import DeciderPool

log = logging.getLogger("iotsec_triage.runtime")


def registry_path(settings: Settings) -> Path:
    """The registry file of existing work: IOTSEC_REGISTRY_FILE, else the bundled one."""
    return Path(settings.registry_file) if settings.registry_file else default_registry_file()


def open_registry(settings: Settings, cache: ParseCache | None = None) -> Registry:
    """The registry of existing work (registry_path)."""
    return (cache or ParseCache(None)).registry(registry_path(settings))


@dataclass(eq=False)  # compared and hashed by identity: one per app or command
class Runtime:
    """What a door needs: the settings, the serving rules, the registry (None: rules alone) and
    the decision log (opened on first use)."""

    settings: Settings
    holder: RuleHolder
    registry: Registry | None
    database_url: str
    _log: DecisionLog | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    deciders: DeciderPool | None = None  # worker processes to decide in: the service's (start_deciders)

    @property
    def rules(self) -> RuleSet:
        """The serving rule set: take it once per request, a reload never changes it mid-way."""
        return self.holder.current

    def decision_log(self) -> DecisionLog:
        """The decision log, created on first use (it connects and migrates lazily)."""
        log_ = self._log
        if log_ is None:
            from api.decision_log import DecisionLog  # SQLAlchemy only for the doors that log

            with self._lock:
                if self._log is None:
                    self._log = DecisionLog(self.database_url)
                log_ = self._log
        return log_

    def replace_log(self, log_: DecisionLog | None) -> None:
        """Use another decision log (tests, tools); None: the configured one, opened on next use."""
        with self._lock:
            old, self._log = self._log, log_
        if old is not None and old is not log_:
            old.close()

    def log_for_request(self) -> tuple[DecisionLog | None, bool]:
        """(log, write): the log to consult, and whether to write to it (IOTSEC_LOG_DECISIONS).
        A malformed database URL gives no log: triage answers without it."""
        try:
            return self.decision_log(), self.settings.log_decisions
        except Exception as exc:  # noqa: BLE001 - e.g. an unknown driver in the URL
            log.warning("decision log not available: %s", exc)
            return None, False

    def log_health(self) -> dict[str, object]:
        """Whether the decision log can be read now: {"status": "ok"|"unavailable", "writing", "reason"?}."""
        writing = self.settings.log_decisions
        try:
            reason = self.decision_log().health()
        except Exception as exc:  # noqa: BLE001 - a malformed URL is "unavailable" too
            reason = f"the database cannot be reached ({type(exc).__name__})"
        return (
            {"status": "ok", "writing": writing}
            if reason is None
            else {"status": "unavailable", "writing": writing, "reason": reason}
        )

    def start_deciders(self) -> None:
        """Start the worker processes the service decides in (IOTSEC_DECIDE_PROCESSES; none: in
        this process). They load in the background; until then, and whenever one cannot answer,
        triage() decides here."""
        size = self.settings.resolved_decide_processes()
        if size <= 0 or self.deciders is not None:
            return
        from api.runtime.deciders import DeciderPool, code_digest, owners_digest

        spec = {
            "rules_dir": str(self.holder.directory),
            "registry_file": str(registry_path(self.settings)),
            "cache_dir": str(self.settings.resolved_cache_dir() or "off"),
            "registry": self.registry is not None,
            # What a decider must share with this process to decide as it does (api/runtime/deciders.py).
            "code": code_digest(),
            "owners": owners_digest(self.holder.known_owners()),
            "registry_revision": self.registry.revision if self.registry is not None else None,
        }
        self.deciders = DeciderPool(spec, self.registry, size)
        self.deciders.start()

    def triage(self, proposal: Proposal, rs: RuleSet, registry: Registry | None) -> Decision:
        """engine.triage, in a decider process when there is one that can take it, else here."""
        pool = self.deciders
        if pool is not None:
            found = pool.decide(proposal, rs, registry)
            if found is not None:
                return found
        return triage(proposal, rs, registry)

    def close(self) -> None:
        if self.deciders is not None:
            self.deciders.close()
        if self._log is not None:
            self._log.close()
        self.holder.close()


def build(
    settings: Settings | None = None,
    *,
    rules_dir: Path | None = None,
    registry: bool = True,
    database_url: str | None = None,
) -> Runtime:
    """Assemble the core from settings; `rules_dir`, `registry=False` and `database_url` are the
    doors' own overrides (--rules, --no-registry, --database-url). Raises RuleLoadError or
    RegistryLoadError with every located problem: a broken file fails here, not later."""
    settings = settings or get_settings()
    cache = ParseCache(settings.resolved_cache_dir())
    reg = open_registry(settings, cache)
    # Cited Recommendations the registry holds take their owner from it, with or without related
    # work: --no-registry (registry=false) turns off related work, not what is known of owners.
    holder = RuleHolder(
        rules_dir or settings.resolved_rules_dir(),
        known_owners=reg.owners,
        loader=cache.rule_set,
    )
    holder.load()
    # Precedent (the nearest existing items and a classifier fitted on them) rides on the registry:
    # every door that triages with the registry gets its signals; without it they are 0.
    if registry:
        reg.precedent_index = cache.precedent_index(reg)
    return Runtime(settings, holder, reg if registry else None, database_url or settings.resolved_database_url())
