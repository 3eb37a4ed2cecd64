"""One typed settings object, read once from IOTSEC_* environment variables and an optional .env."""

from __future__ import annotations

import math
import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MIN_TOKEN_LENGTH = 16
CPU_MAX = Path("/sys/fs/cgroup/cpu.max")  # cgroup v2: "<quota> <period>" or "max <period>"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="IOTSEC_", env_file=".env", extra="ignore")

    rules_dir: Path | None = Field(default=None, description="Rule directory; default: the bundled rules/.")
    data_dir: Path = Field(default=Path("data"), description="Where the SQLite decision log lives.")
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; default: SQLite in data_dir.")
    registry_file: Path | None = Field(default=None, description="Registry of existing work; default: the bundled one.")
    cache_dir: str | None = Field(
        default=None,
        description="Cache of parsed rule and registry files (api/runtime/cache.py); "
        "default ~/.cache/iotsec-triage; 'off' turns it off.",
    )
    admin_token: SecretStr | None = None
    staff_token: SecretStr | None = None
    max_body_bytes: int = Field(default=1_000_000, ge=1_000)
    max_batch_body_bytes: int = Field(default=10_000_000, ge=1_000)
    max_batch_items: int = Field(default=1_000, ge=1)
    max_batch_chars: int = Field(
        default=2_000_000,
        ge=1_000,
        description="A batch's work budget: characters of text in all its items together (413 beyond).",
    )
    body_timeout_seconds: float = Field(
        default=10.0, gt=0, le=600, description="Time a client has to send a request body (408 after)."
    )
    decide_threads: int = Field(
        default=2,
        ge=1,
        le=64,
        description="Worker threads deciding single proposals at once (CPU work: about one per core).",
    )
    batch_threads: int = Field(
        default=1, ge=1, le=64, description="Worker threads deciding batch items at once (all batches share them)."
    )
    workers: int = Field(default=1, ge=1, le=32)
    decide_processes: int | None = Field(
        default=None,
        ge=0,
        le=32,
        description="Worker processes the service decides in (api/runtime/deciders.py); 0: in the server "
        "process; default: one per core beyond the first, at most decide_threads, none with several workers.",
    )
    watch_rules: bool = Field(
        default=False, description="Reload when the rule files change (on by itself with several workers)."
    )
    log_decisions: bool = Field(
        default=True, description="Write every triage to the decision log (reviews are honoured either way)."
    )

    @field_validator("admin_token", "staff_token")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and value.get_secret_value() == "":
            return None
        if value is not None and len(value.get_secret_value()) < MIN_TOKEN_LENGTH:
            raise ValueError(f"tokens must be at least {MIN_TOKEN_LENGTH} characters")
        return value

    def resolved_decide_processes(self) -> int:
        if self.decide_processes is not None:
            return self.decide_processes
        return default_size(self.decide_threads, self.workers)

    def resolved_rules_dir(self) -> Path:
        from engine import bundled_rules_dir

        return self.rules_dir or bundled_rules_dir()

    def resolved_cache_dir(self) -> Path | None:
        from api.runtime.cache import default_cache_dir

        if self.cache_dir is None or self.cache_dir == "":
            return default_cache_dir()
        return None if self.cache_dir.lower() in ("off", "none", "0", "false") else Path(self.cache_dir)

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'decisions.sqlite3').resolve()}"


def usable_cores() -> int:
    """The cores this process may use: those it may run on (taskset), within its cgroup's CPU quota
    (a container's --cpus) where Linux says one."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        quota, period = CPU_MAX.read_text().split()[:2]
        if quota != "max":
            cores = min(cores, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):  # no cgroup v2 file (another OS, cgroup v1), or one not understood
        pass
    return cores


def default_size(decide_threads: int, server_workers: int, cores: int | None = None) -> int:
    """Deciders when IOTSEC_DECIDE_PROCESSES is not set: one per core beyond the first (the server
    process keeps one), at most decide_threads; none when several server processes already share
    the cores, nor on one core."""
    cores = cores if cores is not None else usable_cores()
    if server_workers > 1:
        return 0
    return max(0, min(decide_threads, cores - 1))


@lru_cache
def get_settings() -> Settings:
    return Settings()
