"""Issue 14, item 12: a target in the thousands trained with and without ``data.scale_target``.

``configs/body_mass.yaml`` (penguins-like body mass in grams, std ~800 g):
the same MLP (64-64 relu), Adam with its defaults (learning rate 0.001),
batch 32, early stopping on val_loss (patience 10, best weights restored), at
most 300 epochs; trained through dlcli's CLI with ``data.scale_target: false``
and ``auto`` (on here), seeds 0-2 (the seed also draws the splits, the same
for both settings). Reported per run: epochs until early stopping stopped
training, test R^2 and test MAE (grams); then the medians.

Usage: python benchmarks/target_scaling.py [--seeds 3] [--epochs 300]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from common import ROOT, env, machine

CONFIG = ROOT / "configs" / "body_mass.yaml"
SETTINGS = ("false", "auto")


def train(setting: str, seed: int, epochs: int, out: str) -> dict:
    """One dlcli run: epochs trained, test r2 and mae."""
    sets = [f"data.scale_target={setting}", f"seed={seed}", f"training.epochs={epochs}", "training.plots=false"]
    args = [sys.executable, "-m", "dlcli", "train", str(CONFIG), "--output-dir", out, "--json", "--quiet"]
    args += [arg for s in sets for arg in ("--set", s)]
    done = subprocess.run(args, capture_output=True, text=True, env=env(), check=True)
    payload = json.loads(done.stdout)
    state = json.loads((Path(payload["run_dir"]) / "run.json").read_text())
    metrics = payload["metrics"]
    return {"epochs": state["epochs_done"], "r2": metrics["r2"], "mae": metrics["mae"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=300)
    options = parser.parse_args()
    print(f"{machine()}\n{CONFIG.relative_to(ROOT)}, at most {options.epochs} epochs, early stopping patience 10\n")
    print(f"{'scale_target':<13}{'seed':>5}{'epochs':>8}{'test r2':>9}{'test mae g':>12}")
    results: dict[str, list[dict]] = {s: [] for s in SETTINGS}
    with tempfile.TemporaryDirectory() as out:
        for seed in range(options.seeds):
            for setting in SETTINGS:
                got = train(setting, seed, options.epochs, out)
                results[setting].append(got)
                print(f"{setting:<13}{seed:>5}{got['epochs']:>8}{got['r2']:>9.3f}{got['mae']:>12.1f}", flush=True)
    print("\nmedians")
    for setting, runs in results.items():
        med = {key: statistics.median(r[key] for r in runs) for key in ("epochs", "r2", "mae")}
        print(f"{setting:<13}{'':>5}{med['epochs']:>8g}{med['r2']:>9.3f}{med['mae']:>12.1f}")


if __name__ == "__main__":
    main()
