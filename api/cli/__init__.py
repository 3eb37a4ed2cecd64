"""The `iotsec-triage` command line: a thin door onto the engine, like the HTTP service.

This module only builds the group; each command lives in the module of its family and never
imports the group (api.cli.common holds what they share). Commands are imported when they run,
not before: `--help` and each command pay only for what they use. Exit codes: 0 ok, 1 findings,
2 usage or input errors.
"""

from __future__ import annotations

import importlib
import sys

import click

from api import __version__
from api.cli import startup

# name -> (module, attribute, the one-line help `--help` shows without importing the module)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "triage": ("api.cli.triage", "triage_cmd", "Triage proposals from a file: one decision per line."),
    "eval": ("api.cli.triage", "eval_cmd", "Accuracy of the rules on labelled items."),
    "batch": ("api.cli.workflow", "batch_cmd", "Triage every item of a file into the decision log."),
    "serve": ("api.cli.serve", "serve_cmd", "Run the HTTP service (JSON API, pages, OpenAPI at /docs)."),
    "rules": ("api.cli.rules", "rules_group", "Check, test and compare rule sets (for rule maintainers)."),
    "explain": ("api.cli.rules", "explain_cmd", "Explain the decision on one proposal: facts, rules, precedence."),
    "landscape": ("api.cli.registry", "landscape_cmd", "The landscape of existing work for the JCG."),
    "related-eval": ("api.cli.registry", "related_eval_cmd", "Precision and recall of related-work detection."),
    "registry": (
        "api.cli.registry",
        "registry_group",
        "Keep the registry of existing work (import from public records).",
    ),
}


class LazyGroup(click.Group):
    """A group whose commands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        spec = COMMANDS.get(cmd_name)
        if spec is None:
            return None
        command = getattr(importlib.import_module(spec[0]), spec[1])
        assert isinstance(command, click.Command)
        return command

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        found = super().resolve_command(ctx, args)
        startup.resume()  # imported: the command runs collected (runtime() pauses while it builds)
        return found

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, COMMANDS[name][2]) for name in self.list_commands(ctx)])


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="iotsec-triage")
def main() -> None:
    """Recommend the home of proposed IoT-security work items (SG17, SG20, joint, other SG)."""


def run() -> None:
    """The console script (and `python -m api.cli`): main() with the collector paused while the
    command is imported and while its runtime is built and, but for `serve`, no pydantic plugins
    looked for and one OpenBLAS thread (api/cli/startup.py says why, and when collection resumes)."""
    startup.pause()
    if sys.argv[1:2] != ["serve"]:  # the service, and the workers it starts, keep their defaults
        startup.without_pydantic_plugins()
        startup.single_threaded_blas()
    try:
        main()
    finally:
        startup.finish()
