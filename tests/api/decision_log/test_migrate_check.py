"""The start-up check that spares Alembic: it must name the heads Alembic names, and a database
at an older revision (or none) is still migrated."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect

from api.decision_log.database import alembic_config, at_head, head_revisions, make_engine, migrate


def test_the_heads_read_from_the_files_are_alembics() -> None:
    from alembic.script import ScriptDirectory

    assert head_revisions() == set(ScriptDirectory.from_config(alembic_config()).get_heads())


def test_only_a_database_at_head_is_left_alone(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'log.sqlite3'}")
    try:
        with engine.begin() as conn:
            assert not at_head(conn)  # nothing there yet
        migrate(engine)
        with engine.begin() as conn:
            assert at_head(conn)
            conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0001'")
            conn.exec_driver_sql("ALTER TABLE decisions DROP COLUMN item_id")
            assert not at_head(conn)
        migrate(engine)  # an older revision: upgraded again
        with engine.begin() as conn:
            assert at_head(conn)
            assert "item_id" in {c["name"] for c in inspect(conn).get_columns("decisions")}
    finally:
        engine.dispose()
