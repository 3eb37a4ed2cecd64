"""iotsec-triage's doors (HTTP service, pages, command line) and what assembles the core for them."""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("iotsec-triage")
except PackageNotFoundError:  # run from a checkout that was never installed
    __version__ = "0.0.0"
