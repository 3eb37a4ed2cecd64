"""Serving under uvicorn with a graceful stop that answers every request already received.

On SIGTERM uvicorn stops accepting connections, lets the requests in progress finish (up to
`timeout_graceful_shutdown`), and at once closes every keep-alive connection that is idle *as far as
it knows*. A request the client has just written on such a connection (in the socket, not yet read)
is then dropped unanswered: a read error for a client that did nothing wrong. The protocol below
instead keeps an idle connection open for a short drain window: a request that arrives in it is
answered, with `Connection: close`, and the connection closes after it; a connection still idle at
the end of the window is closed then. Requests in progress finish as before, and their answers
also carry `Connection: close`, so no client sends another request on a connection that is going.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

DRAIN_SECONDS = 1.0
GRACEFUL_SECONDS = 30  # the longest request (a full batch) fits in it; then uvicorn cancels what is left
SWITCH_INTERVAL = 0.001  # seconds; see api/web/main.py


class DrainingHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol whose graceful stop answers what arrives in the drain window."""

    _draining = False
    _drain_timer: asyncio.TimerHandle | None = None

    def shutdown(self) -> None:
        self._draining = True
        cycle = self.cycle
        if cycle is None or cycle.response_complete:
            # Idle here, but a request may be on its way: answer it, then close; close at the end of
            # the window if none came.
            self._drain_timer = self.loop.call_later(DRAIN_SECONDS, self._close_if_idle)
        else:
            cycle.keep_alive = False

    def _close_if_idle(self) -> None:
        cycle = self.cycle
        if cycle is None or cycle.response_complete:
            if not self.transport.is_closing():
                self.transport.close()
        else:
            cycle.keep_alive = False

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        if self._draining and self.cycle is not None:
            self.cycle.keep_alive = False  # answered, then the connection closes

    def connection_lost(self, exc: Exception | None) -> None:
        if self._drain_timer is not None:
            self._drain_timer.cancel()
        super().connection_lost(exc)


def run(app: str, *, host: str, port: int, workers: int, log_config: dict[str, Any]) -> None:
    """uvicorn.run with the draining protocol and the graceful timeout (every worker uses them)."""
    import uvicorn

    uvicorn.run(
        app,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        http=DrainingHttpTools,
        timeout_graceful_shutdown=GRACEFUL_SECONDS,
        log_config=log_config,
    )
