"""``dlcli sweep CONFIG`` and ``dlcli sweep status DIR``: thin click commands; ``dlcli.cli`` adds the group.

Exceptions go up to the root group in ``dlcli.cli``, which maps them to exit codes.
"""

from __future__ import annotations

import json

import click

from dlcli.options import config_argument, debug_option, json_option, mlflow_option


def _err(line: str) -> None:
    click.echo(line, err=True)


class SweepGroup(click.Group):
    """``dlcli sweep CONFIG ...`` runs a sweep; ``dlcli sweep status DIR`` shows one."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


@click.group("sweep", cls=SweepGroup)
def sweep_group():
    """Hyperparameter search over CONFIG's sweep: block, on Optuna (needs pip install 'dlcli[sweep]').

    \b
    dlcli sweep CONFIG [--workers N] [--storage URL] [--output-dir DIR] [--mlflow URI]
    dlcli sweep status DIR [--json]
    dlcli sweep report DIR --html [-o FILE]
    """


@sweep_group.command("run")
@config_argument
@click.option(
    "--workers", default=1, show_default=True, type=click.IntRange(1, 64), help="Worker processes sharing the study."
)
@click.option(
    "--storage", "storage_url", metavar="URL",
    help="An SQLAlchemy URL of the study (postgresql://... across machines); default: a journal file in the sweep directory.",
)  # fmt: skip
@click.option(
    "--output-dir", default="sweeps", show_default=True, type=click.Path(file_okay=False),
    help="The sweep directory is DIR/<name>.",
)  # fmt: skip
@mlflow_option
@debug_option
def sweep_run(config_path, workers, storage_url, output_dir, mlflow_uri):
    """Search CONFIG's sweep: params; each trial is a run in DIR/<name>/trials/<n>/.

    Running the same command again continues the study to its budget, and
    continues trials a killed worker left running. The best trial alone is
    scored on the test split. Prints the sweep directory as the last line.
    """
    from dlcli.scoring import format_table
    from dlcli.sweep import board, runner

    done = runner.run(
        config_path, workers=workers, storage_url=storage_url, output_dir=output_dir, mlflow_uri=mlflow_uri
    )
    click.echo(board.format_board(done.trials, done.info, limit=10))
    if done.best is not None:
        click.echo(f"\nbest: trial {done.best['number']}, {done.info['metric']} {done.best['value']:.4g}")
        click.echo(f"train it again: {done.best['train_command']}")
        if done.test_metrics is None:  # it ran on another machine sharing the study
            click.echo(
                f"\nthe best trial ran on {done.best.get('host') or 'another machine'}; score it there once: "
                f"dlcli evaluate {done.best['run_dir']}"
            )
        else:
            click.echo(f"\ntest metrics of the best trial (trial {done.best['number']}, scored once):")
            click.echo(format_table(done.test_metrics))
    for path in done.plots:
        _err(f"plot: {path}")
    click.echo(str(done.sweep_dir))


@sweep_group.command("status")
@click.argument("sweep_dir", metavar="DIR", type=click.Path())
@json_option
@debug_option
def sweep_status(sweep_dir, as_json):
    """The leaderboard of the sweep in DIR: every trial of its study, on any machine."""
    from pathlib import Path

    from dlcli.log import without_password
    from dlcli.sweep import board, study

    found, info = study.open_recorded(Path(sweep_dir))
    trials = board.rows(found, Path(sweep_dir), info)
    top = board.best(trials, info["direction"])
    if as_json:
        best = None if top is None else {**top, "test_metrics": board.scored(Path(sweep_dir), top)}
        click.echo(json.dumps({"sweep": info["name"], "metric": info["metric"], "direction": info["direction"],
                               "storage": without_password(info.get("storage")), "trials": trials, "best": best}))  # fmt: skip
        return
    click.echo(board.format_board(trials, info))
    if top is not None:
        click.echo(f"\nbest: trial {top['number']}, {info['metric']} {top['value']:.4g}: {top['train_command']}")


@sweep_group.command("report")
@click.argument("sweep_dir", metavar="DIR", type=click.Path())
@click.option("--html", "as_html", is_flag=True, help="Write one self-contained HTML page (DIR/report.html).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Where --html writes the page.")
@debug_option
def sweep_report(sweep_dir, as_html, output):
    """One HTML page of the sweep in DIR: leaderboard, best trial, Optuna's plots; prints its path."""
    from dlcli.errors import UsageError
    from dlcli.sweep.page import write_html

    if not as_html:
        raise UsageError(
            f"dlcli sweep report writes HTML: add --html (the leaderboard as text: dlcli sweep status {sweep_dir})"
        )
    click.echo(str(write_html(sweep_dir, output)))
