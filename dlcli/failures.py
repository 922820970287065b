"""What a failed command prints and returns: the exit code, the lines on stderr, and with ``--json`` one JSON object.

``cli.py``'s group calls :func:`handle` for every exception a command raises;
nothing else maps exceptions to exit codes. With ``--json`` the stdout of a
failed command is exactly ``{"error": {"message", "file", "line", "column",
"exit_code", "problems"}}`` and stderr keeps its lines, so a script reads the
one and a person the other.
"""

from __future__ import annotations

import json
import os
import re
import sys
import traceback

import click

from dlcli.errors import DlcliError

# FILE:LINE:COL: message, or FILE:LINE: message (a place in a config or a data file).
LOCATED = re.compile(r"^(?P<file>[^\s:][^:]*?):(?P<line>\d+)(?::(?P<column>\d+))?: (?P<message>.*)$")


def wants_json(group: click.Group, ctx: click.Context) -> bool:
    """True when the subcommand about to run was given ``--json`` (read before click parses, so that a usage
    error of that command answers in JSON too)."""
    pending = getattr(ctx, "_protected_args", None)
    if pending is None:
        pending = getattr(ctx, "protected_args", [])
    args = [*pending, *ctx.args]
    if not args:
        return False
    own = args[1 : args.index("--")] if "--" in args else args[1:]
    command = group.get_command(ctx, args[0])
    if isinstance(command, click.Group) and len(args) > 1:  # dlcli sweep status DIR --json
        inner = command.get_command(ctx, args[1])
        command, own = (inner, own[1:]) if inner is not None else (command.get_command(ctx, "run"), own)
    takes = any(p.name == "as_json" for p in getattr(command, "params", []))
    return takes and "--json" in own


def handle(exc: BaseException, *, debug: bool, as_json: bool) -> int:
    """Print ``exc`` the dlcli way (stderr lines; one JSON object on stdout with ``--json``); its exit code.

    Click's own exceptions (usage errors, ``--help``'s exit) are left to click, after the JSON object."""
    if isinstance(exc, (click.exceptions.ClickException, click.exceptions.Abort)):
        if as_json:
            message = exc.format_message() if isinstance(exc, click.exceptions.ClickException) else "aborted"
            _echo_json([message], getattr(exc, "exit_code", 1), None)
        raise exc
    if isinstance(exc, BrokenPipeError):  # e.g. `dlcli predict ... | head`: stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    if debug and not isinstance(exc, KeyboardInterrupt):
        traceback.print_exception(exc)
    code, lines = _describe(exc, debug)
    from dlcli.log import located  # logging is not imported for --help

    for line in lines:
        click.echo(line if located(line) else f"error: {line}", err=True)
    if as_json:
        _echo_json(lines, code, getattr(exc, "path", None))
    return code


def _describe(exc: BaseException, debug: bool) -> tuple[int, list[str]]:
    if isinstance(exc, DlcliError):
        return exc.exit_code, exc.lines()
    if isinstance(exc, KeyboardInterrupt):
        return 130, ["interrupted"]
    first = (str(exc).strip().splitlines() or [""])[0]
    tail = "" if debug else " (rerun with --debug for the traceback)"
    return 1, [f"internal error: {type(exc).__name__}: {first}{tail}"]


def error_object(lines: list[str], exit_code: int, path=None) -> dict:
    """``{"error": {...}}`` for the stderr ``lines`` of a failure: the first problem's message and place (null
    when it has none), the exit code, and every problem with its place."""
    problems = [_problem(line) for line in lines] or [_problem("")]
    first = problems[0]
    if first["file"] is None and path is not None:
        first = {**first, "file": str(path)}
    return {"error": {**first, "exit_code": exit_code, "problems": problems}}


def _problem(line: str) -> dict:
    match = LOCATED.match(line)
    if match is None or match["file"].startswith("--set"):
        return {"message": line, "file": None, "line": None, "column": None}
    column = match["column"]
    return {
        "message": match["message"],
        "file": match["file"],
        "line": int(match["line"]),
        "column": None if column is None else int(column),
    }


def _echo_json(lines: list[str], exit_code: int, path) -> None:
    click.echo(json.dumps(error_object(lines, exit_code, path)))
