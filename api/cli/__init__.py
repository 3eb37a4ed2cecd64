"""The `iotsec-triage` command line: a thin door onto the engine, like the HTTP service.

This module only builds the group; each command lives in the module of its family and never
imports the group (api.cli.common holds what they share). Exit codes: 0 ok, 1 findings,
2 usage or input errors.
"""
from __future__ import annotations

import click

from api import __version__
from api.cli.registry import landscape_cmd, registry_group, related_eval_cmd
from api.cli.rules import explain_cmd, rules_group
from api.cli.serve import serve_cmd
from api.cli.triage import eval_cmd, triage_cmd
from api.cli.workflow import batch_cmd


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="iotsec-triage")
def main() -> None:
    """Recommend the home of proposed IoT-security work items (SG17, SG20, joint, other SG)."""


for command in (triage_cmd, eval_cmd, serve_cmd, batch_cmd, rules_group, explain_cmd, landscape_cmd, related_eval_cmd, registry_group):
    main.add_command(command)
