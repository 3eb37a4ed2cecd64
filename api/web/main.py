"""ASGI entry point for uvicorn: `api.web.main:app` (settings from IOTSEC_* environment variables)."""

import gc
import sys

from api.web.app import create_app
from api.web.serving import SWITCH_INTERVAL

# Deciding runs in worker threads; the event loop asks for the GIL back after this long, not the
# default 5 ms, so that health checks and small requests are not queued behind a long decision.
sys.setswitchinterval(SWITCH_INTERVAL)
app = create_app()
# What start-up loaded (rules, registry, the app) lives as long as the process: out of the
# collector's sight, so that its full collections walk what requests make, not all of that.
gc.collect()
gc.freeze()
