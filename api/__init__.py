"""iotsec-triage's doors (HTTP service, pages, command line) and what assembles the core for them."""

__version__ = "0.2.0"  # the one version: pyproject.toml reads it from here (tool.setuptools.dynamic)
