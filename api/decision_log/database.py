"""Engine and session factory for the decision log, and migrations run at start-up (upgrade head)."""

from __future__ import annotations

import fcntl
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_migrate_lock = threading.Lock()


class RawJson(str):
    """JSON text serialised already (by pydantic, once): a JSON column stores it as it is, not
    dumped again. Any other value is dumped with json.dumps, as SQLAlchemy does by default."""


def _json_serializer(value: object) -> str:
    return value if isinstance(value, RawJson) else json.dumps(value)


def normalize_url(url: str) -> str:
    """postgres:// and postgresql:// mean psycopg 3 here (the only PostgreSQL driver installed)."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(url: str) -> Engine:
    """An engine for `url`; SQLite gets WAL and a busy timeout, PostgreSQL a short connect timeout."""
    url = normalize_url(url)
    parsed = make_url(url)
    kwargs: dict[str, Any] = {"json_serializer": _json_serializer}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            try:
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            except OSError:
                pass  # the first connection fails and says why; triage goes on without the log
        kwargs["connect_args"] = {"timeout": 10, "check_same_thread": False}
    elif parsed.get_backend_name() == "postgresql":
        # Triage must answer even when the database is down: fail fast instead of hanging.
        kwargs["connect_args"] = {"connect_timeout": 3}
        kwargs["pool_timeout"] = 5
    if parsed.get_backend_name() != "sqlite":
        # A server may drop a pooled connection; a SQLite file connection does not go stale (and
        # the ping would be one more statement per commit of the writer).
        kwargs["pool_pre_ping"] = True
    engine = create_engine(url, **kwargs)
    if parsed.get_backend_name() == "sqlite":

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _: Any) -> None:
            cur = dbapi_conn.cursor()
            # WAL + synchronous=NORMAL: a committed row survives a killed process (not a power cut).
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

    return engine


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded values after commit (rows are handed out as plain data)."""
    return sessionmaker(engine, expire_on_commit=False)


def alembic_config(engine: Engine | None = None) -> Any:
    """Alembic Config pointing at the bundled migrations (no alembic.ini needed)."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if engine is not None:
        cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    return cfg


def head_revisions() -> set[str] | None:
    """The newest revisions of the bundled migrations, read from their files' `revision =` and
    `down_revision =` lines (no Alembic import); None when a file says it some other way."""
    found: dict[str, str | None] = {}
    for path in sorted((MIGRATIONS / "versions").glob("[0-9]*.py")):
        text = path.read_text(encoding="utf-8")
        rev = re.search(r'^revision = "([^"]+)"$', text, re.M)
        down = re.search(r'^down_revision = (?:"([^"]+)"|None)$', text, re.M)
        if rev is None or down is None:
            return None
        found[rev.group(1)] = down.group(1)
    heads = set(found) - {d for d in found.values() if d is not None}
    return heads or None


def at_head(conn: Connection) -> bool:
    """Whether the database's alembic_version already names the newest revisions (read on the
    migration's own connection, under its lock; no Alembic import)."""
    heads = head_revisions()
    if heads is None or not inspect(conn).has_table("alembic_version"):
        return False
    rows = conn.exec_driver_sql("SELECT version_num FROM alembic_version").all()
    return {str(r[0]) for r in rows} == heads


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (alembic upgrade head); safe to call repeatedly.
    A database already at the newest revision is left as it is without importing Alembic."""
    # Several workers may start at once; one migrates, the others wait and find it done:
    # PostgreSQL through an advisory lock, a SQLite file through a lock file beside it.
    with _migrate_lock, _sqlite_file_lock(engine), engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(727274001)")
        if at_head(conn):
            return
        from alembic import command

        cfg = alembic_config(engine)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


@contextmanager
def _sqlite_file_lock(engine: Engine) -> Iterator[None]:
    database = engine.url.database if engine.url.get_backend_name() == "sqlite" else None
    if not database or database == ":memory:":
        yield
        return
    with open(f"{database}.migrate-lock", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
