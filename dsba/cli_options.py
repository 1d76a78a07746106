"""What every dsba command shares: --json, --remote and --token anywhere, and the exit codes."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cached_property
from typing import Any

import click

from dsba.config import Settings
from dsba.errors import Conflict, DsbaError, InvalidInput, NotFound, StoreError

EXIT_CODES = {InvalidInput: 3, NotFound: 4, Conflict: 5, StoreError: 6}


def exit_code(error: DsbaError) -> int:
    """The documented exit code for a domain error."""
    for kind, code in EXIT_CODES.items():
        if isinstance(error, kind):
            return code
    return 3


class Context:
    """What every command needs: the output mode and the service, local or remote."""

    def __init__(self) -> None:
        self.as_json = False
        self.remote: str | None = None
        self.token: str | None = None

    @cached_property
    def settings(self) -> Settings:
        """The DSBA_* settings, read when a command first needs them."""
        return Settings.from_env()

    @cached_property
    def service(self) -> Any:
        """The service, built on first use: every level's options are parsed by then."""
        if self.remote:
            from dsba.client import Client

            return Client(self.remote, token=self.token)
        from dsba.service import LocalService

        return LocalService(self.settings)

    def emit(self, payload: Any, text: str) -> None:
        """Print JSON in --json mode, otherwise the human summary."""
        click.echo(json.dumps(payload, indent=2, default=str) if self.as_json else text)


def _store(attribute: str) -> Callable[[click.Context, click.Parameter, Any], None]:
    def remember(ctx: click.Context, _param: click.Parameter, value: Any) -> None:
        # Levels are parsed outside in, so the level nearest the command is stored last and wins;
        # a level that was not given the option (None, or False for --json) changes nothing.
        state = ctx.ensure_object(Context)
        if value is not None and value is not False:
            setattr(state, attribute, value)

    return remember


def shared_options(envvars: bool = False) -> list[click.Option]:
    """New --remote, --token and --json options; only the top level reads DSBA_REMOTE/TOKEN."""
    return [
        click.Option(
            ["--remote"],
            envvar="DSBA_REMOTE" if envvars else None,
            expose_value=False,
            callback=_store("remote"),
            help="Base URL of a dsba server to use (env DSBA_REMOTE).",
        ),
        click.Option(
            ["--token"],
            envvar="DSBA_TOKEN" if envvars else None,
            expose_value=False,
            callback=_store("token"),
            help="API token for --remote (env DSBA_TOKEN).",
        ),
        click.Option(
            ["--json", "as_json"],
            is_flag=True,
            expose_value=False,
            callback=_store("as_json"),
            help="Print machine-readable JSON.",
        ),
    ]


class LocalCommand(click.Command):
    """A command that takes none of the shared options (serve runs here, prints no JSON)."""


def first_sentence(text: str) -> str:
    """The first sentence of a help text's first paragraph, on one line."""
    words = text.partition("\n\n")[0].split()
    if words[:1] == ["\b"]:
        words = words[1:]
    # As click reads it: a period ends the sentence unless a lowercase word follows ("vs.").
    for i, word in enumerate(words):
        if word.endswith(".") and (i == len(words) - 1 or not words[i + 1][0].islower()):
            return " ".join(words[: i + 1])
    return " ".join(words)


class DsbaGroup(click.Group):
    """Gives every command it registers the shared options; domain errors become exit codes."""

    group_class = type  # subgroups made with @group.group() are DsbaGroups too

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        """Register cmd with --remote, --token and --json, unless it is local-only."""
        taken = {param.name for param in cmd.params}
        if not isinstance(cmd, LocalCommand) and "remote" not in taken:
            cmd.params.extend(shared_options())
        # click cuts a listed command's help to fit the terminal ("Score every row of DATA
        # with model REF; adds label,..."); the whole first sentence wraps instead.
        if cmd.short_help is None and cmd.help:
            cmd.short_help = first_sentence(cmd.help)
        super().add_command(cmd, name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DsbaError as error:
            # Local use: the store is the user's own, so its OS error (paths and all) helps;
            # the server keeps that detail out of its answers.
            cause = error.__cause__
            detail = (
                f" ({cause})"
                if isinstance(error, StoreError) and isinstance(cause, OSError)
                else ""
            )
            click.echo(f"error: {error.message}{detail}", err=True)
            ctx.exit(exit_code(error))
