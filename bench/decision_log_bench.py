"""What the decision log costs /v1/triage: latency with logging off, on SQLite, on PostgreSQL.

Sequential requests through the ASGI app in-process (no network), distinct proposals so every
logged request inserts a row. Prints figures; asserts nothing. PostgreSQL when
IOTSEC_TEST_POSTGRES_URL is set.  Run: python -m bench.decision_log_bench [N]
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient

from api.runtime.settings import Settings
from api.web.app import create_app


def run(label: str, settings: Settings, n: int) -> None:
    """Time n triage requests and print the median and p95 latency."""
    with TestClient(create_app(settings)) as c:
        for i in range(20):  # warm-up
            c.post("/v1/triage", json={"title": f"Warm-up security item {i}"})
        times = []
        for i in range(n):
            body = {
                "title": f"Security requirements for smart irrigation gateways, variant {i}",
                "summary": "Threats to irrigation controllers on farms and requirements for the platform.",
            }
            t = time.perf_counter()
            r = c.post("/v1/triage", json=body)
            times.append(time.perf_counter() - t)
            assert r.status_code == 200
        note = r.headers.get("x-decision-log")
    times.sort()
    print(
        f"{label:<12} n={n} median {statistics.median(times) * 1000:6.2f} ms  p95 {times[int(n * 0.95)] * 1000:6.2f} "
        "ms  "
        f"({note})"
    )


def main() -> None:
    """Logging off, SQLite, and PostgreSQL if configured."""
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    with tempfile.TemporaryDirectory() as tmp:
        run("log off", Settings(data_dir=Path(tmp) / "off", log_decisions=False), n)
        run("sqlite", Settings(data_dir=Path(tmp) / "on"), n)
        pg = os.environ.get("IOTSEC_TEST_POSTGRES_URL")
        if pg:
            import uuid

            from sqlalchemy import create_engine, text

            from api.decision_log.database import normalize_url

            schema = f"bench_{uuid.uuid4().hex[:8]}"
            admin = create_engine(normalize_url(pg))
            with admin.begin() as conn:
                conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            try:
                run(
                    "postgresql",
                    Settings(data_dir=Path(tmp) / "pg", database_url=f"{pg}?options=-csearch_path%3D{schema}"),
                    n,
                )
            finally:
                with admin.begin() as conn:
                    conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
                admin.dispose()


if __name__ == "__main__":
    main()
