"""``dlcli report RUN --html``: one self-contained HTML page of a run (images inline, no external URLs).

The page holds the run's summary, training diagnostics, config, data summary,
test metrics, learning curves, the confusion matrix and per-class table
(classification), ROC and precision-recall curves (binary), residuals
(regression) and the environment. All but the prediction plots come from the
run directory's files; those reload the model and rebuild the test split the
way ``dlcli evaluate`` does, and when that data is gone the page says so.
"""

from __future__ import annotations

import base64
import json
from html import escape
from pathlib import Path

import numpy as np

from dlcli import diagnostics
from dlcli import report as plots
from dlcli import report_figures as figures
from dlcli.errors import DataError, writing
from dlcli.runs import store
from dlcli.runs.run import shown
from dlcli.runs.saved import SavedRun, open_run

PAGE = "report.html"
STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; padding: 0 1em; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: 0.5em 0; } td, th { border: 1px solid #ddd; padding: 0.25em 0.6em; }
th { background: #f4f4f4; text-align: left; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
pre { background: #f7f7f7; padding: 0.8em; overflow-x: auto; font-size: 0.9em; }
img { max-width: 100%; margin: 0.4em 0.6em 0.4em 0; vertical-align: top; }
.finding { border-left: 4px solid #d9822b; background: #fff7ee; padding: 0.4em 0.8em; margin: 0.5em 0; }
.ok { border-left: 4px solid #3a8f3a; background: #f0f8f0; padding: 0.4em 0.8em; }
ul.features { columns: 3; font-size: 0.92em; } .note { color: #666; font-style: italic; }
"""
# Marks the page for a browser check: every image decoded with a non-zero size.
CHECK = """
window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.images);
  document.body.setAttribute("data-images", String(images.length));
  document.body.setAttribute("data-images-ok", String(images.every(function (i) {
    return i.complete && i.naturalWidth > 0 && i.naturalHeight > 0;
  })));
});
"""


def write_html(run_dir: str | Path, output: str | Path | None = None, *, device: str | None = None) -> Path:
    """Write the run's HTML report to ``output`` (default ``RUN/report.html``); returns its path.

    ``device`` (default: the run's ``training.device``) runs the model for the prediction plots.
    """
    run = open_run(run_dir)
    path = Path(output) if output is not None else run.path / PAGE
    page = render(run, predictions_on_test_split(run, device or run.config.training.device))
    with writing(path):
        store.atomic_write_text(path, page, durable=False)
    return path


def predictions_on_test_split(run: SavedRun, device: str = "auto") -> dict:
    """{"y": targets, "outputs": raw model outputs} on the rebuilt test split, or {"missing": why not}."""
    from dlcli.device import prepare_environment
    from dlcli.evaluate import _data_still_there, own_data
    from dlcli.predict import Predictor

    prepare_environment(device)
    try:
        _data_still_there(run)
        dataset = own_data(run, run.config.config)
    except DataError as exc:
        return {"missing": str(exc)}
    if dataset.streamed:
        return {"missing": "the test split is streamed from files; its prediction plots are not drawn"}
    x, y = dataset.test()
    predictor = Predictor(run, device)
    outputs = predictor.outputs(x)
    return {"y": np.asarray(y).reshape(-1), "outputs": outputs, "dataset": dataset, "predictor": predictor}


def render(run: SavedRun, predicted: dict) -> str:
    """The whole page as text."""
    history = plots.read_history(run.path / store.HISTORY) if (run.path / store.HISTORY).exists() else {}
    metrics = store.read_json_if_present(run.path / store.METRICS, {})
    plt = figures.pyplot()
    sections = [
        _summary(run),
        _diagnostics(diagnostics.diagnose(history, metrics)),
        section("Config", f"<pre>{escape(_text(run.path / store.CONFIG))}</pre>"),
        _data(run, metrics, predicted, plt),
        _metrics(metrics),
        *_standing(run, predicted, plt),
        section(
            "Learning curves",
            _image(plt, plots._curves(plt, history, run.path.name), "learning curves")
            if history
            else note("no history.csv"),
        ),
        _outcomes(run, metrics, predicted, plt),
        _environment(run.environment),
    ]
    return page(f"dlcli report: {run.path.name}", sections)


def page(title: str, sections: list[str]) -> str:
    """A whole HTML page: the title, the style, the image check and the sections."""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{STYLE}</style><script>{CHECK}</script></head>\n"
        f"<body><h1>{escape(title)}</h1>\n" + "\n".join(sections) + "\n</body></html>\n"
    )


def _summary(run: SavedRun) -> str:
    state = run.state
    rows = {
        "run directory": str(run.path),
        "name": state.get("name"),
        "task": run.config.task,
        "status": shown(state),
        "started": state.get("started_at"),
        "finished": state.get("finished_at"),
        "epochs": f"{state.get('epochs_done')} of {state.get('epochs_planned')} planned"
        + (" (stopped early)" if state.get("stopped_early") else ""),
        "total time": f"{(state.get('timings_s') or {}).get('total', '?')} s",
    }
    return section("Run", table(rows))


def _diagnostics(found: list) -> str:
    if not found:
        return section("Training diagnostics", '<p class="ok">Nothing to flag.</p>')
    items = "".join(
        f'<div class="finding"><b>{escape(f.kind)}</b>: {escape(f.seen)}.<br>Suggestion: {escape(f.advice)}.</div>'
        for f in found
    )
    return section("Training diagnostics", items)


def _data(run: SavedRun, metrics: dict, predicted: dict, plt) -> str:
    facts = run.data_facts
    rows = {
        "source": facts.get("source"),
        "name or files": facts.get("name") or ", ".join(str(v) for v in (facts.get("files") or {}).values()),
        "rows": facts.get("rows"),
        "task": f"{facts.get('task')} ({facts.get('task_reason')})" if facts.get("task_reason") else facts.get("task"),
        "input shape": facts.get("input_shape"),
    }
    splits = facts.get("splits") or {}
    body = table(rows) + "<h3>Rows per split</h3>" + table(splits, header=("split", "rows"))
    if run.labels is not None:
        body += "<h3>Class balance (test split)</h3>" + _balance(metrics, predicted, run.labels)
    else:
        body += "<h3>Target distribution</h3>" + _target(run, predicted, plt)
    body += "<h3>Features</h3>" + _features(facts)
    return section("Data", body)


def _balance(metrics: dict, predicted: dict, labels: list) -> str:
    if "y" in predicted:
        counts = np.bincount(predicted["y"].astype(np.int64), minlength=len(labels))
        support = {str(name): int(counts[i]) for i, name in enumerate(labels)}
    else:
        support = {name: row.get("support", 0) for name, row in (metrics.get("per_class") or {}).items()}
    total = max(sum(support.values()), 1)
    rows = "".join(
        f"<tr><td>{escape(name)}</td><td class=n>{n}</td><td class=n>{n / total:.1%}</td></tr>"
        for name, n in support.items()
    )
    return f"<table><tr><th>class</th><th>rows</th><th>share</th></tr>{rows}</table>"


def _target(run: SavedRun, predicted: dict, plt) -> str:
    scale = run.data_facts.get("target_scale") or {}
    text = ""
    if scale:
        text = table(
            {
                "training mean": _number(scale.get("mean")),
                "training std": _number(scale.get("std")),
                "scaling": scale.get("reason"),
            }
        )
    if "y" in predicted:
        y = predicted["y"]
        text += table({"test rows": len(y), "min": float(y.min()), "median": float(np.median(y)),
                        "max": float(y.max())})  # fmt: skip
        text += _image(plt, figures.distribution_figure(plt, y, "target, test split"), "target distribution")
    else:
        text += note(predicted.get("missing", "no test split"))
    return text


def _features(facts: dict) -> str:
    features = facts.get("features")
    if not features:
        return note(f"array input of shape {facts.get('input_shape')}")
    vocab = facts.get("vocab") or {}
    items = "".join(
        f"<li>{escape(str(name))}: "
        + (f"categorical ({len(vocab[name])} categories)" if name in vocab else "numeric")
        + "</li>"
        for name in features
    )
    return f'<ul class="features">{items}</ul>'


def _metrics(metrics: dict) -> str:
    scalars = {k: f"{v:.6g}" for k, v in metrics.items() if isinstance(v, (int, float))}
    return section("Test metrics", table(scalars, header=("metric", "value")) if scalars else note("none"))


def _standing(run: SavedRun, predicted: dict, plt) -> list[str]:
    """Where the model stands: against gradient boosting on the same rows, and what each feature is worth to it."""
    from dlcli import report_baseline

    if "y" not in predicted:
        missing = note(predicted["missing"])
        return [section("Against gradient boosting (test split)", missing),
                section("Permutation feature importance (test split)", missing)]  # fmt: skip
    found = report_baseline.yardsticks(run, predicted["dataset"], predicted["outputs"], predicted["predictor"])
    return [_against(found["baseline"]), _importance(found["importance"], plt)]


def _against(found: dict) -> str:
    title = "Against gradient boosting (test split)"
    if "missing" in found:
        return section(title, note(found["missing"]))
    rows = "".join(
        f"<tr><td>{escape(name)}</td><td class=n>{value:.4f}</td><td class=n>{found['baseline'][name]:.4f}</td>"
        f"<td class=n>{value - found['baseline'][name]:+.4f}</td></tr>"
        for name, value in found["network"].items()
    )
    said = (
        f"<p>{escape(found['model'])}, fitted on the run's {found['train_rows']} training rows in "
        f"{found['seconds']} s and scored on the same {found['test_rows']} test rows as this network"
        f"{' (mae and rmse: lower is better)' if 'mae' in found['network'] else ''}.</p>"
    )
    head = "<tr><th>metric</th><th>this network</th><th>gradient boosting</th><th>difference</th></tr>"
    return section(title, said + f"<table>{head}{rows}</table>")


def _importance(found: dict, plt) -> str:
    title = "Permutation feature importance (test split)"
    if "missing" in found:
        return section(title, note(found["missing"]))
    shown = found["features"][:20]
    said = (
        f"<p>The drop in test {found['metric']} when one column's values are shuffled among the test rows "
        f"(mean and std over {found['repeats']} shuffles); the first {len(shown)} of {len(found['features'])}."
        "</p>"
    )
    rows = "".join(
        f"<tr><td>{escape(f['feature'])}</td><td class=n>{f['drop']:+.4f}</td><td class=n>{f['std']:.4f}</td></tr>"
        for f in shown
    )
    figure = figures.importance_figure(plt, [f["feature"] for f in shown], [f["drop"] for f in shown],
                                       [f["std"] for f in shown], found["metric"])  # fmt: skip
    head = f"<tr><th>feature</th><th>drop in {escape(found['metric'])}</th><th>std</th></tr>"
    return section(title, said + _image(plt, figure, "permutation importance") + f"<table>{head}{rows}</table>")


def _outcomes(run: SavedRun, metrics: dict, predicted: dict, plt) -> str:
    if run.labels is None:
        if "y" not in predicted:
            return section("Residuals", note(predicted["missing"]))
        return section(
            "Residuals", _image(plt, figures.residual_figure(plt, predicted["y"], predicted["outputs"]), "residuals")
        )
    parts = []
    if metrics.get("confusion_matrix"):
        parts.append(_image(plt, plots._confusion(plt, metrics["confusion_matrix"], run.path.name), "confusion matrix"))
    parts.append(_per_class(metrics.get("per_class") or {}))
    body = section("Confusion matrix and per-class scores (test split)", "".join(parts))
    if len(run.labels) == 2:
        if "y" in predicted:
            from dlcli.model.head import probabilities

            score = probabilities(predicted["outputs"], run.config.output.activation)[:, 1]
            positive = str(run.labels[1])
            curves = _image(plt, figures.roc_figure(plt, predicted["y"], score, positive), "ROC curve")
            curves += _image(
                plt, figures.precision_recall_figure(plt, predicted["y"], score, positive), "precision-recall curve"
            )
        else:
            curves = note(predicted["missing"])
        body += section("ROC and precision-recall curves (test split)", curves)
    return body


def _per_class(per_class: dict) -> str:
    rows = "".join(
        f"<tr><td>{escape(name)}</td>"
        + "".join(f"<td class=n>{s[key]:.4f}</td>" for key in ("precision", "recall", "f1"))
        + f"<td class=n>{s['support']}</td></tr>"
        for name, s in per_class.items()
    )
    head = "<tr><th>class</th><th>precision</th><th>recall</th><th>F1</th><th>support</th></tr>"
    return f"<table>{head}{rows}</table>"


def _environment(environment: dict) -> str:
    rows = {
        key: value if isinstance(value, (str, int, float, bool)) or value is None else json.dumps(value, indent=1)
        for key, value in environment.items()
        if key != "data"
    }
    return section("Environment", table(rows, pre=True))


def section(title: str, body: str) -> str:
    """A titled section; its id is the title's first word, lower case."""
    anchor = escape(title.lower().split(" ")[0])
    return f'<section id="{anchor}"><h2>{escape(title)}</h2>\n{body}\n</section>'


def table(rows: dict, header: tuple[str, str] | None = None, pre: bool = False) -> str:
    """A two-column table of ``rows`` (keys as row headings), every text escaped."""
    head = f"<tr><th>{escape(header[0])}</th><th>{escape(header[1])}</th></tr>" if header else ""
    cell = "<td><pre>{}</pre></td>" if pre else "<td>{}</td>"
    body = "".join(
        f"<tr><th>{escape(str(k))}</th>"
        + (cell if pre and "\n" in str(v) else "<td>{}</td>").format(escape(str(v)))
        + "</tr>"
        for k, v in rows.items()
    )
    return f"<table>{head}{body}</table>"


def _image(plt, figure, alt: str = "plot") -> str:
    return image(figures.png(plt, figure), alt)


def image(png: bytes, alt: str) -> str:
    """An <img> holding PNG bytes as a data URI."""
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{escape(alt)}" src="data:image/png;base64,{data}">'


def _number(value) -> str:
    return f"{value:.6g}" if isinstance(value, (int, float)) else str(value)


def note(text: str) -> str:
    """A remark: an escaped paragraph in italics."""
    return f'<p class="note">{escape(text)}</p>'


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        return f"({path.name} unreadable: {exc.strerror})"
