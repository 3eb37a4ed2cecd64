"""ASGI entry point for uvicorn: `api.web.main:app` (settings from IOTSEC_* environment variables)."""
from api.web.app import create_app

app = create_app()
