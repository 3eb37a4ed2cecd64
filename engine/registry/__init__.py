"""Existing work: the registry file, its text and concept index, related work, the landscape."""

from engine.registry.index import Registry, load_default_registry, load_registry
from engine.registry.items import WorkItem, default_registry_file

__all__ = ["Registry", "WorkItem", "default_registry_file", "load_default_registry", "load_registry"]
