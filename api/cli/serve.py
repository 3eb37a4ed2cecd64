"""`iotsec-triage serve`: the HTTP service (JSON API, pages, OpenAPI at /docs) under uvicorn."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import click

from api.cli.common import fail, rules_option, runtime


def _port_free(host: str, port: int) -> str | None:
    """None when host:port can be bound now, else why not (uvicorn itself would exit 3)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        return f"cannot resolve {host}: {exc.strerror}"
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            return exc.strerror or str(exc)
    return None


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@rules_option
@click.option("--workers", type=int, default=None, help="uvicorn workers (default: IOTSEC_WORKERS or 1).")
def serve_cmd(host: str, port: int, rules_dir: Path | None, workers: int | None) -> None:
    """Run the HTTP service (JSON API, OpenAPI at /docs)."""
    from api.web import serving
    from api.web.observability import prepare_serving

    if rules_dir is not None:
        os.environ["IOTSEC_RULES_DIR"] = str(rules_dir.resolve())
    busy = _port_free(host, port)
    if busy is not None:
        raise fail(f"cannot serve on {host}:{port}: {busy} (another server on that port? choose one with --port)")
    # Fail here, with the file's location, rather than inside a worker.
    rt = runtime(rules_dir)
    count = workers or rt.settings.workers
    rt.close()
    os.environ["IOTSEC_WORKERS"] = str(count)  # each worker's settings: how many deciders to start
    if count > 1:
        # Each worker holds its own rules: they follow the files, so one reload reaches them all.
        os.environ["IOTSEC_WATCH_RULES"] = "true"
    # A graceful stop answers every request already received (api/web/serving.py).
    serving.run("api.web.main:app", host=host, port=port, workers=count, log_config=prepare_serving(count))
