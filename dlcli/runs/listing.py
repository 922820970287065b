"""``dlcli runs``: one line per run directory under a folder."""

from __future__ import annotations

from pathlib import Path

from dlcli.errors import RunDirError
from dlcli.runs import store
from dlcli.runs.run import shown
from dlcli.text import table


def list_runs(root: str | Path) -> list[dict]:
    """One summary per run directory under ``root`` (those with a run.json), oldest first."""
    root = Path(root)
    if not root.is_dir():
        raise RunDirError(f"{root}: no such directory; give the --output-dir that `dlcli train` used")
    out = []
    for path in sorted(p for p in root.iterdir() if (p / store.RUN).is_file()):
        try:
            state = store.read_json_object(path / store.RUN)
            metrics = store.read_json_object(path / store.METRICS) if (path / store.METRICS).exists() else {}
        except RunDirError as exc:
            out.append({"run": path.name, "path": str(path), "status": "damaged", "error": str(exc)})
            continue
        main = next((k for k in ("accuracy", "r2") if isinstance(metrics.get(k), (int, float))), None)
        out.append(
            {
                "run": path.name,
                "path": str(path),
                "name": state.get("name"),
                "started_at": state.get("started_at"),
                "status": shown(state),
                "epochs_done": state.get("epochs_done"),
                "epochs_planned": state.get("epochs_planned"),
                "metric": main,
                "value": metrics.get(main) if main else None,
                "loss": metrics.get("loss") if isinstance(metrics.get("loss"), (int, float)) else None,
            }
        )
    out.sort(key=lambda r: (r.get("started_at") or "", r["run"]))
    return out


def format_runs(rows: list[dict]) -> str:
    """The runs as an aligned table."""
    lines = []
    for r in rows:
        started = (r.get("started_at") or "")[:19].replace("T", " ")
        epochs = f"{r.get('epochs_done', '?')}/{r.get('epochs_planned', '?')}" if r["status"] != "damaged" else ""
        metric = f"{r['metric']} {r['value']:.4f}" if r.get("metric") and r.get("value") is not None else ""
        lines.append((r["run"], started, r["status"], epochs, metric))
    return table(lines, ("run", "started", "status", "epochs", "test metric"))
