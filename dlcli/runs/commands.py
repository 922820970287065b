"""``dlcli compare RUN ...``: a thin click command; ``dlcli.cli`` adds it.

Exceptions go up to the root group in ``dlcli.cli``, which maps them to exit codes.
"""

from __future__ import annotations

import click

from dlcli.options import debug_option, json_option


@click.command("compare")
@click.argument("run_dirs", metavar="RUN ...", nargs=-1, type=click.Path())
@json_option
@debug_option
def compare_command(run_dirs, as_json):
    """Compare two or more run directories (sweep trials too): the config keys that differ, one column per
    run, then status, test metrics (validation for a sweep trial), epochs, best epoch and training time."""
    from dlcli.runs.compare import compare, format_compare, to_json

    result = compare(list(run_dirs))
    click.echo(to_json(result) if as_json else format_compare(result))
