"""``dlcli sweep report DIR --html``: one self-contained HTML page of a sweep.

The leaderboard (every trial of the study, as ``dlcli sweep status`` shows
it), the best trial with its test metrics when scored, and Optuna's plots,
drawn afresh into ``DIR/plots/`` and inlined.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from dlcli.errors import writing
from dlcli.html_report import image, note, page, section, table
from dlcli.runs import store
from dlcli.sweep import board, study

PAGE = "report.html"


def write_html(sweep_dir: str | Path, output: str | Path | None = None) -> Path:
    """Write the sweep's HTML report to ``output`` (default ``DIR/report.html``); returns its path."""
    sweep_dir = Path(sweep_dir)
    found, info = study.open_recorded(sweep_dir)
    trials = board.rows(found, sweep_dir, info)
    with writing(sweep_dir / "plots"):
        drawn, skipped = board.plots(found, sweep_dir)
    path = Path(output) if output is not None else sweep_dir / PAGE
    text = render(info, trials, {p.stem: p.read_bytes() for p in drawn}, skipped, sweep_dir)
    with writing(path):
        store.atomic_write_text(path, text, durable=False)
    return path


def render(info: dict, trials: list[dict], plots: dict[str, bytes], skipped: list[str], sweep_dir: Path) -> str:
    """The page as text: summary, best trial, leaderboard, plots (``plots``: name -> PNG bytes)."""
    top = board.best(trials, info["direction"])
    states = {}
    for t in trials:
        states[t["state"]] = states.get(t["state"], 0) + 1
    summary = {
        "sweep directory": str(sweep_dir),
        "metric": f"{info['metric']} ({info['direction']})",
        "trials": ", ".join(f"{n} {state}" for state, n in states.items()) or "none yet",
    }
    sections = [section("Sweep", table(summary)), _best(top, info, sweep_dir), _leaderboard(trials, info)]
    shown = "".join(image(png, name.replace("_", " ")) for name, png in plots.items())
    shown += "".join(note(f"not drawn: {why}") for why in skipped)
    sections.append(section("Optuna plots", shown or note("no plots")))
    return page(f"dlcli sweep report: {info.get('name', sweep_dir.name)}", sections)


def _best(top: dict | None, info: dict, sweep_dir: Path) -> str:
    if top is None:
        return section("Best trial", note("no trial has completed yet"))
    rows = {
        "trial": top["number"],
        info["metric"]: f"{top['value']:.6g}",
        "run directory": top["run_dir"],
        "train it again": top["train_command"],
        "its page": f"dlcli report {top['run_dir']} --html",
    }
    body = table(rows)
    metrics = board.scored(sweep_dir, top)
    if metrics:
        scalars = {k: f"{v:.6g}" for k, v in metrics.items() if isinstance(v, (int, float))}
        body += "<h3>Test metrics (of this trial alone)</h3>" + table(scalars, header=("metric", "value"))
    return section("Best trial", body)


def _leaderboard(trials: list[dict], info: dict) -> str:
    board_rows = board.ranked(trials, info["direction"])
    keys = list(dict.fromkeys(k for r in board_rows for k in r["params"]))
    head = ["rank", "trial", "state", info["metric"], "epochs", "seconds", *keys, "note"]
    lines = []
    for rank, r in enumerate(board_rows, 1):
        value = "" if r["value"] is None else f"{r['value']:.4g}"
        cells = [rank, r["number"], r["state"], value, r["epochs"] or "", r["seconds"] or ""]
        cells += [board._short(r["params"].get(k, "")) for k in keys] + [r["reason"] or ""]
        lines.append("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in cells) + "</tr>")
    header = "<tr>" + "".join(f"<th>{escape(str(h))}</th>" for h in head) + "</tr>"
    return section("Leaderboard", f"<table>{header}{''.join(lines)}</table>")
