"""The command line: thin click commands over the step modules.

This is the one place where exceptions become exit codes. TensorFlow is
imported only inside the commands that need it, so ``--help`` and
``validate`` stay instant.
"""

from __future__ import annotations

import contextlib
import json
import sys
from importlib import resources

import click

from dlcli.errors import UsageError
from dlcli.options import config_argument, debug_option, device_option, json_option, mlflow_option, set_option
from dlcli.version import __version__

EXAMPLE = "digits.yaml"


def _err(line: str) -> None:
    click.echo(line, err=True)


class DlcliGroup(click.Group):
    """Maps dlcli's exception family to exit codes, in one place (``dlcli.failures`` says how)."""

    def invoke(self, ctx):
        from dlcli import failures

        as_json = failures.wants_json(self, ctx)
        try:
            return super().invoke(ctx)
        except click.exceptions.Exit:
            raise
        except (Exception, KeyboardInterrupt) as exc:
            ctx.exit(failures.handle(exc, debug=(ctx.obj or {}).get("debug", False), as_json=as_json))


@click.group(cls=DlcliGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="dlcli")
@click.option("--debug", is_flag=True, help="Show tracebacks instead of one-line errors.")
@click.pass_context
def cli(ctx, debug):
    """Turn one YAML file into a trained, evaluated and saved Keras model."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = ctx.obj.get("debug") or debug


def _load(config_path, overrides):
    from dlcli.config.load import load_config, load_config_text
    from dlcli.log import note

    if config_path is None:
        text = resources.files("dlcli").joinpath("examples", EXAMPLE).read_text(encoding="utf-8")
        note(f"no CONFIG given: using the built-in example ({EXAMPLE}, the same as configs/{EXAMPLE})")
        return load_config_text(text, f"<built-in {EXAMPLE}>", overrides, stem="digits")
    return load_config(config_path, overrides)


@cli.command()
@click.argument("config_path", metavar="CONFIG", required=False, type=click.Path(dir_okay=True))
@set_option
@device_option
@click.option(
    "--output-dir",
    default="runs",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Where run directories go.",
)
@click.option(
    "--resume",
    "resume_dir",
    metavar="RUN_DIR",
    type=click.Path(),
    help="Continue an interrupted run from its last checkpoint, with the config saved in it.",
)
@json_option
@click.option("--quiet", "-q", is_flag=True, help="No progress; print only the run directory (or the JSON).")
@mlflow_option
@debug_option
def train(config_path, overrides, device, output_dir, resume_dir, as_json, quiet, mlflow_uri):
    """Validate CONFIG, train, evaluate on the test split and save a run directory.

    Prints the run directory's path as the last line. Without CONFIG, trains
    the built-in digits example. Ctrl-C or SIGTERM stops after the current
    step and keeps a checkpoint; --resume RUN_DIR continues it.
    """
    from dlcli import tracking
    from dlcli.observers.mlflow import Mlflow
    from dlcli.observers.progress import Progress
    from dlcli.scoring import format_table
    from dlcli.training import crossval, plan

    progress = Progress(0 if quiet else 2)
    stream = sys.stderr if as_json else sys.stdout
    if resume_dir is not None:
        if config_path is not None or overrides or mlflow_uri:
            raise UsageError(
                "--resume continues a run with the config saved in it; give no CONFIG, no --set and no --mlflow"
            )
        with contextlib.redirect_stdout(stream):
            run_path, metrics = crossval.resume_any(resume_dir, device=device, observers=[progress, Mlflow()])
    else:
        config = _load(config_path, overrides)
        if config.sweep is not None:
            from dlcli.log import note

            note(
                f"{config.where(('sweep',), key=True)}: sweep: is for dlcli sweep; dlcli train ignores it and trains the base config"
            )
            config = config.copy_with(sweep=None)
        config = tracking.with_uri(config, mlflow_uri)
        tracked = Mlflow(config)
        with contextlib.redirect_stdout(stream):
            where = plan.Where.under(output_dir)
            run_path, metrics = crossval.train(config, where, device=device, observers=[progress, tracked])
    if as_json:
        click.echo(json.dumps({"run_dir": None if run_path is None else str(run_path), "metrics": metrics}))
        return
    if not quiet:
        cv = crossval.summary_table(run_path) if run_path is not None else None
        if cv is not None:
            click.echo("\n" + cv)
        click.echo("\ntest metrics:")
        click.echo(format_table(metrics))
    if run_path is not None:  # None: a worker of a multi-worker run; the chief prints the directory
        click.echo(str(run_path))


@cli.command()
@click.argument("run_dir", type=click.Path())
@click.option(
    "--data",
    "data_arg",
    metavar="CONFIG_OR_FILE",
    help="Score on this config's test split or on every row of this file.",
)
@device_option
@json_option
@debug_option
def evaluate(run_dir, data_arg, device, as_json):
    """Reload RUN_DIR's model and print its metrics on the run's test split."""
    from dlcli.evaluate import evaluate_run
    from dlcli.scoring import format_table

    with contextlib.redirect_stdout(sys.stderr):
        metrics = evaluate_run(run_dir, data_arg=data_arg, device=device or "auto")
    click.echo(json.dumps({"metrics": metrics}) if as_json else format_table(metrics))


@cli.command()
@click.argument("run_dir", type=click.Path())
@click.argument("input_path", metavar="INPUT", type=click.Path())
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False),
    help="File to write: .csv, .tsv, .parquet or .jsonl, by its extension (default: CSV on stdout).",
)  # fmt: skip
@click.option("--proba", is_flag=True, help="Add one probability column per class (classification).")
@click.option(
    "--keep", multiple=True, metavar="COL", help="Copy this input column (e.g. an id) into the output; repeatable."
)
@click.option(
    "--skip-bad-rows", is_flag=True,
    help="Predict the other rows when one cannot be: it gets an empty prediction and its reason in an 'error' column.",
)  # fmt: skip
@json_option
@device_option
@debug_option
def predict(run_dir, input_path, output, proba, keep, skip_bad_rows, as_json, device):
    """Predict every row of INPUT (a CSV/TSV/Parquet/JSON Lines table with the training columns, or NPZ/NPY) with RUN_DIR's model.

    Writes a 'prediction' column: class names for classification, values for
    regression; --proba adds p_<class> columns. Columns that are not features
    are ignored. A row that cannot be predicted stops with its line and column,
    unless --skip-bad-rows. With --json (and -o), a summary object on stdout.
    """
    from dlcli.errors import UsageError
    from dlcli.predict import predict as run_predict

    if as_json and not output:
        raise UsageError("predict --json needs -o FILE: without it, stdout holds the predictions")
    with contextlib.redirect_stdout(sys.stderr) if output else contextlib.nullcontext():
        summary = run_predict(
            run_dir, input_path, output, device=device or "auto", proba=proba, keep=keep, skip_bad_rows=skip_bad_rows
        )
    if summary["skipped"]:
        _err(f"{summary['skipped']} row(s) could not be predicted; their reasons are in the 'error' column")
    if output:
        _err(f"{summary['predicted']} predictions written to {output}")
    if as_json:
        click.echo(json.dumps(summary))


@cli.command("export")
@click.argument("run_dir", type=click.Path())
@click.option(
    "--format", "fmt", required=True, type=click.Choice(["savedmodel", "litert", "onnx"]),
    help="savedmodel: TF Serving layout, raw columns in; litert (TFLite) and onnx: the model file, plus "
    "preprocessing.json when the run has categorical columns.",
)  # fmt: skip
@click.option(
    "-o", "--output", metavar="DIR", type=click.Path(file_okay=False),
    help="Directory to write (default: RUN_DIR/export/FORMAT); savedmodel adds DIR/<name>/<version>/.",
)  # fmt: skip
@click.option(
    "--data", "data_path", metavar="FILE",
    help="Check the export on the rows of FILE (the training columns) instead of the run's test split.",
)  # fmt: skip
@debug_option
def export_command(run_dir, fmt, output, data_path):
    """Export RUN_DIR's model as a SavedModel, LiteRT or ONNX artefact, checked before it is kept.

    A fresh process loads the artefact with its own runtime and predicts the
    run's test rows at batch 1 and 7; it is kept only if every probability (or
    value) is within 1e-5 of dlcli predict's (LiteRT: 1e-4). The figures go
    to DIR/export.json. Exit 1 when the check fails (nothing is kept), 2 when
    the export extra is missing: pip install 'dlcli[export]'.
    """
    from dlcli.export.exporter import export

    with contextlib.redirect_stdout(sys.stderr):
        done = export(run_dir, fmt, output, data=data_path)
    for line in done.summary():
        _err(line)
    click.echo(str(done.path))


@cli.command()
@click.argument("run_dir", type=click.Path())
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0: every interface).")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535), help="Port (0: any free one).")
@click.option(
    "--max-rows", default=10_000, show_default=True, type=click.IntRange(min=1),
    help="Most rows in one request; more is a 413.",
)  # fmt: skip
@click.option("--access-log", is_flag=True, help="Log one line per request (costs time per request).")
@device_option
@debug_option
def serve(run_dir, host, port, max_rows, access_log, device):
    """Serve RUN_DIR's model over HTTP until SIGTERM or Ctrl-C (needs pip install 'dlcli[serve]').

    GET /healthz, GET /v1/metadata, POST /v1/predict with {"rows": [{column: value, ...}]},
    and TF Serving's POST /v1/models/NAME:predict. The OpenAPI schema is at /openapi.json, docs at /docs.
    """
    from dlcli.serve import serve as run_server

    run_server(run_dir, host, port, max_rows=max_rows, device=device or "auto", access_log=access_log)


@cli.command()
@click.argument("run_dir", type=click.Path())
@click.option(
    "--html", "as_html", is_flag=True, help="Write one self-contained HTML page instead (RUN_DIR/report.html)."
)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Where --html writes the page.")
@device_option
@debug_option
def report(run_dir, as_html, output, device):
    """Write RUN_DIR's plots/ (learning curves; confusion matrix for classification) from its files.

    With --html, one page with the config, data summary, plots, diagnostics and environment;
    its prediction plots reload the model on the rebuilt test split.
    """
    from dlcli import report as reports
    from dlcli.runs.store import complete_run

    if output is not None and not as_html:
        raise UsageError("-o/--output goes with --html")
    if as_html:
        from dlcli.html_report import write_html

        click.echo(str(write_html(run_dir, output, device=device)))
        return
    for written in reports.write_plots(complete_run(run_dir)):
        click.echo(str(written))


@cli.command("runs")
@click.argument("root", metavar="DIR", required=False, default="runs", type=click.Path())
@json_option
@debug_option
def list_runs(root, as_json):
    """List the runs under DIR (default: runs): name, start, status, epochs, main test metric."""
    from dlcli.runs.listing import format_runs, list_runs

    rows = list_runs(root)
    if as_json:
        click.echo(json.dumps(rows))
    elif rows:
        click.echo(format_runs(rows))
    else:
        _err(f"{root}: no runs yet")


def _resolve_without_tensorflow(config_path, overrides):
    """The config resolved as train will resolve it, against its data probed without TensorFlow; and the probe."""
    from dlcli.training.plan import without_tensorflow

    return without_tensorflow(_load(config_path, overrides))


@cli.command()
@config_argument
@set_option
@debug_option
def validate(config_path, overrides):
    """Check CONFIG without importing TensorFlow and print the layer table."""
    from dlcli.model import specs

    resolved, probe = _resolve_without_tensorflow(config_path, overrides)
    click.echo(
        f"{config_path}: valid ({resolved.task}, input {probe.input_shape}"
        + (f", {probe.n_classes} classes)" if probe.n_classes else ")")
    )
    if probe.task_reason and not probe.task_reason.startswith("set by"):
        click.echo(f"task: {resolved.task}, inferred from the target: {probe.task_reason}")
    click.echo(specs.table(specs.layers(resolved, probe.input_shape, probe.vocab_sizes), probe.input_shape))


@cli.group("config")
def config_group():
    """Show a resolved config, or the JSON Schema of the config language."""


@config_group.command("show")
@config_argument
@set_option
@debug_option
def config_show(config_path, overrides):
    """Print CONFIG fully resolved: every default and auto value filled in (no TensorFlow)."""
    import yaml

    resolved, _ = _resolve_without_tensorflow(config_path, overrides)
    click.echo(yaml.safe_dump(resolved.dump(), sort_keys=False), nl=False)


@config_group.command("schema")
@debug_option
def config_schema():
    """Print the JSON Schema of a config file (for an editor's YAML language server)."""
    from dlcli.config.jsonschema import schema

    click.echo(json.dumps(schema(), indent=2))


@cli.command()
@json_option
@debug_option
def info(as_json):
    """Versions of dlcli, Python, TensorFlow and Keras, and the devices TensorFlow sees."""
    import platform

    from dlcli.device import describe, gpu_hint, import_tensorflow
    from dlcli.text import table

    tf = import_tensorflow("auto")
    import keras

    facts = {
        "dlcli": __version__,
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        **describe(tf),
    }
    if not facts["gpus"]:
        facts["gpu_note"] = gpu_hint(tf)
    if as_json:
        click.echo(json.dumps(facts))
        return
    rows = []
    for key, value in facts.items():
        shown = ", ".join(value) if isinstance(value, list) else value
        rows.append((key, shown if shown not in (None, "") else "-"))
    click.echo(table(rows))


from dlcli.sweep.commands import sweep_group  # noqa: E402 - the sweep commands live with the sweep

cli.add_command(sweep_group)

from dlcli.runs.commands import compare_command  # noqa: E402 - kept beside the run-directory readers

cli.add_command(compare_command)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="dlcli")


if __name__ == "__main__":
    main()
