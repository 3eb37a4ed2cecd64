"""ASGI entry point for uvicorn: `api.main:app` (settings from IOTSEC_* environment variables)."""
from api.app import create_app

app = create_app()
