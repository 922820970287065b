"""Options shared by several commands (module-level objects, as click's own examples keep them)."""

from __future__ import annotations

import click

set_option = click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a config value, e.g. --set training.epochs=5 --set model.layers[0].units=32 (repeatable).",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print exactly one JSON object on stdout.")
device_option = click.option(
    "--device",
    type=click.Choice(["auto", "cpu", "gpu"]),
    default=None,
    help="Where to run: auto uses a GPU when one is visible. Default: training.device from the config.",
)
config_argument = click.argument("config_path", metavar="CONFIG", type=click.Path())
debug_option = click.option(
    "--debug",
    is_flag=True,
    expose_value=False,
    callback=lambda ctx, p, v: _set_debug(ctx, v),
    is_eager=True,
    help="Show tracebacks.",
)


def _set_debug(ctx, value):
    if value:
        ctx.ensure_object(dict)["debug"] = True
        root = ctx.find_root()
        root.ensure_object(dict)["debug"] = True


mlflow_option = click.option(
    "--mlflow",
    "mlflow_uri",
    metavar="URI",
    help="Also log the run to MLflow at URI (sqlite:///mlflow.db, http://HOST:PORT); sets tracking.mlflow.uri. "
    "Needs dlcli[mlflow].",
)
