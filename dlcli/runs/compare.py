"""``dlcli compare``: the config keys that differ between run directories, then their metrics side by side.

Everything is read from the run directories' files (config.yaml, run.json,
history.csv, metrics.json); no TensorFlow, no model loaded. A run of any
status can be compared: an interrupted, pruned or failed run shows what it
got to. A sweep trial (``trials/<n>``) is an ordinary run directory whose
metrics.json holds validation metrics; the sweep's best trial also has test
metrics, in the sweep's ``best/test_metrics.json``.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import yaml

from dlcli.errors import RunDirError, UsageError
from dlcli.runs import store
from dlcli.runs.run import shown
from dlcli.text import table

MISSING = "-"


@dataclass
class Compared:
    """One run directory as compare reads it."""

    path: Path
    state: dict
    config: dict  # flattened: dotted path -> value
    history: dict[str, list[float]]
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)  # split -> name -> value
    name: str = ""


def compare(paths: list[str | Path]) -> dict:
    """The comparison of two or more run directories as one JSON-ready object (see :func:`format_compare`).

    ``{"runs", "paths", "status", "config": {path: [value per run]}, "metrics": {split: {name: [...]}},
    "epochs", "epochs_planned", "monitor", "mode", "best_epoch", "best_value", "seconds", "wall_seconds"}``;
    a config key a run lacks, and a metric a run did not record, is null.
    """
    if len(paths) < 2:
        given = f" (got only {paths[0]})" if paths else ""
        raise UsageError(f"compare needs two or more run directories{given}; e.g. dlcli compare runs/a runs/b")
    seen: dict[Path, str] = {}
    for p in paths:
        key = Path(p).resolve()
        if key in seen:
            raise UsageError(f"{p}: given twice (also as {seen[key]}); compare different run directories")
        seen[key] = str(p)
    runs = [read(Path(p)) for p in paths]
    for run, name in zip(runs, short_names([r.path for r in runs]), strict=True):
        run.name = name
    monitor, mode = pick_monitor(runs)
    best = [best_epoch(r.history.get(monitor), mode) for r in runs]
    return {
        "runs": [r.name for r in runs],
        "paths": [str(r.path) for r in runs],
        "status": [status(r.state) for r in runs],
        "config": differing(r.config for r in runs),
        "metrics": metric_rows(runs),
        "epochs": [r.state.get("epochs_done") for r in runs],
        "epochs_planned": [r.state.get("epochs_planned") for r in runs],
        "monitor": monitor,
        "mode": mode,
        "best_epoch": [b[0] for b in best],
        "best_value": [b[1] for b in best],
        "seconds": [fit_seconds(r.state) for r in runs],
        "wall_seconds": [wall_seconds(r.state) for r in runs],
    }


# -- reading one run ------------------------------------------------------------------------


def read(path: Path) -> Compared:
    """A run directory of any status, or a RunDirError naming ``path`` and what to give instead."""
    where = "give the directories `dlcli train` printed, or a sweep's DIR/trials/<n>"
    if not path.exists():
        raise _error(path, f"no such run directory; {where}")
    if not path.is_dir():
        raise _error(path, f"not a directory; {where}")
    if not (path / store.RUN).exists():
        if (path / "sweep.json").exists() or (path / "trials").is_dir():
            raise _error(
                path, f"a sweep directory; compare its trials, e.g. dlcli compare {path}/trials/0 {path}/trials/1"
            )
        raise _error(path, f"no {store.RUN}; not a dlcli run directory: {where}")
    state = store.read_state(path)
    if not (path / store.CONFIG).exists():
        raise _error(
            path, f"no {store.CONFIG} (the run is {state.get('status')}); it has no config to compare, leave it out"
        )
    return Compared(path=path, state=state, config=flatten(_config(path)), history=_history(path),
                    metrics=_metrics(path, state))  # fmt: skip


def _error(path: Path, why: str) -> RunDirError:
    error = RunDirError(f"{path}: {why}")
    error.path = str(path)
    return error


def _config(run: Path) -> dict:
    """config.yaml in today's config language (an older run's saved config is upgraded, not validated)."""
    from dlcli.config.upgrade import assumed_version, upgrade

    path = run / store.CONFIG
    try:
        text = path.read_text(encoding="utf-8")
        data = yaml.safe_load(text)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise _error(
            run, f"cannot read {store.CONFIG}: {str(exc).splitlines()[0]}; the run directory is damaged"
        ) from None
    if not isinstance(data, dict):
        raise _error(run, f"{store.CONFIG} does not hold a mapping; the run directory is damaged")
    return upgrade(data, where=str(path), assumed=assumed_version(text))


def _history(run: Path) -> dict[str, list[float]]:
    """history.csv as columns of floats (NaN for an unreadable cell); none when the run logged no epoch."""
    path = run / store.HISTORY
    if not path.exists():
        return {}
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise _error(run, f"cannot read {store.HISTORY}: {exc}; the run directory is damaged") from None
    return {key: [_number(row.get(key)) for row in rows] for key in (rows[0] if rows else {}) if key != "epoch"}


def _number(cell) -> float:
    try:
        return float(cell)
    except (TypeError, ValueError):
        return math.nan


def _metrics(run: Path, state: dict) -> dict[str, dict[str, float]]:
    """The run's scalar metrics by split: test (metrics.json of a run), validation (a sweep trial's), and
    test again for the trial a sweep scored as its best."""
    found: dict[str, dict[str, float]] = {}
    if (run / store.METRICS).exists():
        recorded = _scalars(store.read_json_object(run / store.METRICS))
        if state.get("score_test") is False or all(k.startswith("val_") for k in recorded):
            found["validation"] = {k.removeprefix("val_"): v for k, v in recorded.items()}
        else:
            found["test"] = recorded
    best = run.parent.parent / "best" / "test_metrics.json"
    if run.parent.name == "trials" and best.is_file():
        scored = store.read_json_if_present(best)
        if (
            isinstance(scored, dict)
            and str(scored.get("trial")) == run.name
            and isinstance(scored.get("metrics"), dict)
        ):
            found["test"] = _scalars(scored["metrics"])
    return found


def _scalars(metrics: dict) -> dict[str, float]:
    return {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


# -- config ---------------------------------------------------------------------------------


def flatten(value, prefix: str = "") -> dict:
    """Dotted paths to leaf values: ``optimizer.learning_rate``, ``model.layers[0].units``; a list of plain
    values (``metrics``) is one leaf."""
    if isinstance(value, dict):
        out = {}
        for key, inner in value.items():
            out.update(flatten(inner, f"{prefix}.{key}" if prefix else str(key)))
        return out if out or not prefix else {prefix: {}}
    if isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value):
        out = {}
        for i, inner in enumerate(value):
            out.update(flatten(inner, f"{prefix}[{i}]"))
        return out
    return {prefix: value}


def differing(configs) -> dict[str, list]:
    """The dotted paths whose values are not the same in every config (in the configs' order), with each run's
    value; null where a run has no such key."""
    configs = list(configs)
    keys: list[str] = []
    for config in configs:  # a key only some runs have goes after the key before it in those runs
        at = 0
        for key in config:
            if key in keys:
                at = keys.index(key) + 1
            else:
                keys.insert(at, key)
                at += 1
    out = {}
    for key in keys:
        values = [c.get(key, _Absent) for c in configs]
        if any(v != values[0] or (v is _Absent) != (values[0] is _Absent) for v in values):
            out[key] = [None if v is _Absent else v for v in values]
    return out


class _Absent:
    """A key a config does not have (distinct from a key set to null)."""


# -- names, status, epochs, times -----------------------------------------------------------


def short_names(paths: list[Path]) -> list[str]:
    """Column headers: each directory's name (``trials/<n>`` for a sweep trial), with as many parent folders
    as it takes to tell the runs apart."""
    parts = [Path(p).resolve().parts for p in paths]
    depth = [2 if len(p) > 1 and p[-2] == "trials" else 1 for p in parts]
    while True:
        names = ["/".join(p[-d:]) for p, d in zip(parts, depth, strict=True)]
        clashes = {n for n in names if names.count(n) > 1}
        grow = [i for i, n in enumerate(names) if n in clashes and depth[i] < len(parts[i])]
        if not grow:
            return names
        for i in grow:
            depth[i] += 1


def status(state: dict) -> str:
    """complete, or how far an unfinished run got: ``interrupted (3/10 epochs)``, ``pruned at epoch 2``,
    ``killed (2/10 epochs)`` for a running run whose process on this host is gone."""
    kind = (shown(state) if state.get("status") else None) or "unknown"
    if kind == "complete":
        return "complete (stopped early)" if state.get("stopped_early") else kind
    if kind == "pruned" and state.get("pruned_at_epoch") is not None:
        return f"pruned at epoch {state['pruned_at_epoch']}"
    return f"{kind} ({state.get('epochs_done', '?')}/{state.get('epochs_planned', '?')} epochs)"


def pick_monitor(runs: list[Compared]) -> tuple[str | None, str]:
    """The metric that picks each run's best epoch, and min or max: the first run's early_stopping monitor
    when every run logged it, else val_loss when every run logged it, else loss."""
    from dlcli.config.sweep import HIGHER_IS_BETTER
    from dlcli.names import monitor_logged_as

    candidates = []
    for run in runs:
        monitor = run.config.get("training.early_stopping.monitor")
        if isinstance(monitor, str):
            candidates.append((monitor_logged_as(monitor), run.config.get("training.early_stopping.mode", "auto")))
            break
    candidates += [("val_loss", "auto"), ("loss", "auto")]
    logged = [r for r in runs if r.history]
    for monitor, mode in candidates:
        if logged and all(monitor in r.history for r in logged):
            if mode not in ("min", "max"):
                name = monitor.removeprefix("val_").lower()
                mode = "max" if any(word in name for word in HIGHER_IS_BETTER) else "min"
            return monitor, mode
    return None, "min"


def best_epoch(values: list[float] | None, mode: str) -> tuple[int | None, float | None]:
    """The 1-based epoch with the best finite value, and that value; (None, None) when there is none."""
    finite = [(v, i + 1) for i, v in enumerate(values or []) if math.isfinite(v)]
    if not finite:
        return None, None
    if mode == "max":
        value, epoch = max(finite, key=lambda t: (t[0], -t[1]))  # ties: the earliest epoch
    else:
        value, epoch = min(finite)
    return epoch, value


def fit_seconds(state: dict) -> float | None:
    """Seconds spent training: run.json's fit timing, else the sum of its epoch times (an unfinished run)."""
    fit = (state.get("timings_s") or {}).get("fit")
    if isinstance(fit, (int, float)):
        return round(float(fit), 3)
    epochs = state.get("epoch_seconds")
    if isinstance(epochs, list) and epochs:
        return round(sum(float(s) for s in epochs if isinstance(s, (int, float))), 3)
    return None


def wall_seconds(state: dict) -> float | None:
    """Seconds from start to finish: run.json's total timing, else finished_at - started_at."""
    total = (state.get("timings_s") or {}).get("total")
    if isinstance(total, (int, float)):
        return round(float(total), 3)
    try:
        start, end = (datetime.fromisoformat(state[k]) for k in ("started_at", "finished_at"))
    except (KeyError, TypeError, ValueError):
        return None
    return round((end - start).total_seconds(), 3)


def metric_rows(runs: list[Compared]) -> dict[str, dict[str, list]]:
    """split -> metric -> value per run (null where a run has none); test first, then validation."""
    out: dict[str, dict[str, list]] = {}
    for split in ("test", "validation"):
        names = list(dict.fromkeys(k for r in runs for k in r.metrics.get(split, {})))
        if names:
            out[split] = {n: [r.metrics.get(split, {}).get(n) for r in runs] for n in names}
    return out


def to_json(result: dict) -> str:
    """``result`` as strict JSON: a NaN or infinite value (a diverged run's loss) becomes null."""

    def clean(value):
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    return json.dumps(clean(result), allow_nan=False)


# -- text -----------------------------------------------------------------------------------


def format_compare(result: dict) -> str:
    """The comparison as two aligned tables: the config keys that differ, then status, metrics, epochs, times."""
    header = ["", *result["runs"]]
    config = [(key, *(_shown(v) for v in values)) for key, values in result["config"].items()]
    right = range(1, len(header))
    blocks = [table(config, ["config", *result["runs"]], rule=True) if config else "config: no key differs"]
    rows = [("status", *result["status"])]
    for split, metrics in result["metrics"].items():
        rows += [(f"{split} {name}", *(_number_cell(v) for v in values)) for name, values in metrics.items()]
    epochs = [
        MISSING if done is None else f"{done}/{planned}" if planned is not None else str(done)
        for done, planned in zip(result["epochs"], result["epochs_planned"], strict=True)
    ]
    rows.append(("epochs", *epochs))
    if result["monitor"] is not None:
        rows.append((f"best epoch ({result['monitor']}, {result['mode']})", *(_shown(e) for e in result["best_epoch"])))
        rows.append((f"best {result['monitor']}", *(_number_cell(v) for v in result["best_value"])))
    rows.append(("training seconds", *(_seconds(s) for s in result["seconds"])))
    rows.append(("total seconds", *(_seconds(s) for s in result["wall_seconds"])))
    blocks.append(table(rows, header, right=right, rule=True))
    return "\n\n".join(blocks)


def _shown(value) -> str:
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, dict)):
        return yaml.safe_dump(value, default_flow_style=True, width=10**6).strip()
    return str(value)


def _number_cell(value) -> str:
    return MISSING if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)


def _seconds(value) -> str:
    return MISSING if value is None else f"{value:.1f}"
