"""Seeing a sweep: the leaderboard (files and table), ``best/``, the best trial's test metrics, and plots.

Everything is read from the study (any machine's trials) and the trial run
directories under the sweep directory. ``best/trial.json`` says which trial
won and the ``--set`` arguments that train its config again; ``best/run``
links to its run directory; ``best/test_metrics.json`` holds the one score on
the test split, of that trial alone.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import shlex
import warnings
from pathlib import Path

from dlcli.runs import store
from dlcli.text import table

BEST = "best"
TEST_METRICS = "test_metrics.json"
ORDER = {"complete": 0, "pruned": 1, "running": 2, "waiting": 3, "fail": 4}


def rows(study, sweep_dir: Path, info: dict) -> list[dict]:
    """One summary per trial of the study, by trial number."""
    out = []
    for t in study.get_trials(deepcopy=False):
        state = t.state.name.lower()
        relative = t.user_attrs.get("run_dir", f"trials/{t.number}")
        run = store.read_json_if_present(sweep_dir / relative / store.RUN, {}) or {}
        value = t.value
        if value is None and t.intermediate_values and state == "pruned":
            value = t.intermediate_values[max(t.intermediate_values)]
        ended = t.datetime_complete
        seconds = (ended - t.datetime_start).total_seconds() if ended and t.datetime_start else None
        overrides = list(t.user_attrs.get("overrides", []))
        out.append(
            {
                "number": t.number,
                "state": state,
                "value": value if value is None or math.isfinite(value) else None,
                "params": {k: _decoded(v) for k, v in t.params.items()},
                "run_dir": str(sweep_dir / relative),
                "epochs": run.get("epochs_done"),
                "seconds": None if seconds is None else round(seconds, 1),
                "reason": t.user_attrs.get("reason"),
                "host": (t.user_attrs.get("owner") or {}).get("host"),
                "overrides": overrides,
                "train_command": command(info, overrides),
            }
        )
    return out


def _decoded(value):
    """A choice of lists or mappings is stored as JSON text: give the value back."""
    if isinstance(value, str) and value[:1] in "[{":
        with contextlib.suppress(ValueError):
            return json.loads(value)
    return value


def command(info: dict, overrides: list[str]) -> str:
    """``dlcli train CONFIG --set ...``: trains a trial's config again."""
    sets = " ".join(f"--set {shlex.quote(o)}" for o in overrides)
    return f"dlcli train {shlex.quote(info.get('config', 'CONFIG'))} {sets}".strip()


def ranked(found: list[dict], direction: str) -> list[dict]:
    """Complete trials best first, then pruned (by their last value), then running and failed ones."""
    sign = -1 if direction == "maximize" else 1

    def key(row):
        value = row["value"]
        return (ORDER.get(row["state"], 5), 0 if value is not None else 1, sign * (value or 0), row["number"])

    return sorted(found, key=key)


def best(found: list[dict], direction: str) -> dict | None:
    done = [r for r in ranked(found, direction) if r["state"] == "complete" and r["value"] is not None]
    return done[0] if done else None


def write(sweep_dir: Path, found: list[dict], info: dict) -> dict | None:
    """leaderboard.csv / .json and best/; the best trial's row (None before one completes)."""
    board = ranked(found, info["direction"])
    store.atomic_write_json(sweep_dir / "leaderboard.json", board)
    keys = list(dict.fromkeys(k for r in board for k in r["params"]))
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(
        ["rank", "trial", "state", info["metric"], "epochs", "seconds", *keys, "reason", "run_dir", "train_command"]
    )
    for rank, r in enumerate(board, 1):
        params = [
            json.dumps(r["params"][k]) if isinstance(r["params"].get(k), (list, dict)) else r["params"].get(k, "")
            for k in keys
        ]
        writer.writerow(
            [
                rank,
                r["number"],
                r["state"],
                r["value"],
                r["epochs"],
                r["seconds"],
                *params,
                r["reason"] or "",
                r["run_dir"],
                r["train_command"],
            ]
        )
    store.atomic_write_text(sweep_dir / "leaderboard.csv", buf.getvalue())
    top = best(found, info["direction"])
    if top is None:
        return None
    folder = sweep_dir / BEST
    folder.mkdir(exist_ok=True)
    store.atomic_write_json(folder / "trial.json", {**top, "metric": info["metric"]})
    link = folder / "run"
    target = os.path.relpath(top["run_dir"], folder)
    if link.is_symlink() and os.readlink(link) != target or link.exists() and not link.is_symlink():
        link.unlink()
    if not link.is_symlink():
        with contextlib.suppress(OSError):  # a file system without symlinks: trial.json names the directory
            link.symlink_to(target, target_is_directory=True)
    return top


def scored(sweep_dir: Path, top: dict) -> dict | None:
    """The test metrics already computed for ``top`` (None when best/ holds another trial's, or none)."""
    saved = store.read_json_if_present(sweep_dir / BEST / TEST_METRICS)
    return saved["metrics"] if saved and saved.get("trial") == top["number"] else None


def score_best(sweep_dir: Path, top: dict) -> dict | None:
    """Score the best trial's model on its test split, once; best/test_metrics.json. None when the trial ran on
    another machine sharing the study (its run directory is there)."""
    from dlcli.evaluate import evaluate_run

    metrics = scored(sweep_dir, top)
    if metrics is None and not Path(top["run_dir"]).is_dir():
        return None
    if metrics is None:
        metrics = evaluate_run(top["run_dir"])
        record = {"trial": top["number"], "run_dir": top["run_dir"], "split": "test", "metrics": metrics}
        store.atomic_write_json(sweep_dir / BEST / TEST_METRICS, record)
    return metrics


def plots(study, sweep_dir: Path) -> tuple[list[Path], list[str]]:
    """Optuna's matplotlib plots in ``plots/``: (written, why others were skipped)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as views

    folder = sweep_dir / "plots"
    folder.mkdir(exist_ok=True)
    written, skipped = [], []
    for name, draw in (
        ("optimization_history", views.plot_optimization_history),
        ("param_importances", views.plot_param_importances),
        ("parallel_coordinate", views.plot_parallel_coordinate),
    ):
        path = folder / f"{name}.png"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                axes = draw(study)
            figure = getattr(axes, "figure", None) or axes.flat[0].figure
            figure.savefig(path, dpi=100, bbox_inches="tight")
            written.append(path)
        except Exception as exc:  # too few finished trials for this plot, or a single parameter value
            skipped.append(f"{name}: {type(exc).__name__}: {str(exc)[:120]}")
        finally:
            plt.close("all")
    return written, skipped


def format_board(found: list[dict], info: dict, limit: int | None = None) -> str:
    """The leaderboard as a table: rank order, one column per searched key."""
    board = ranked(found, info["direction"])[:limit]
    keys = list(dict.fromkeys(k for r in board for k in r["params"]))
    lines = []
    for r in board:
        value = "" if r["value"] is None else f"{r['value']:.4g}"
        params = [_short(r["params"].get(k, "")) for k in keys]
        note = r["reason"] if r["state"] == "fail" and r["reason"] else ""
        lines.append(
            (
                r["number"],
                r["state"],
                value,
                r["epochs"] if r["epochs"] is not None else "",
                _time(r["seconds"]),
                *params,
                note,
            )
        )
    header = ("trial", "state", info["metric"], "epochs", "time", *keys, "")
    return table(lines, header, right=(0, 2, 3, 4))


def _short(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    text = json.dumps(value) if isinstance(value, (list, dict)) else str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _time(seconds) -> str:
    return "" if seconds is None else f"{seconds:.0f}s" if seconds < 600 else f"{seconds / 60:.0f}m"
