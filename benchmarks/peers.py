"""dlcli's shipped configs vs scikit-learn's MLP (hidden (64, 64)) on the same test split.

For each bundled dataset: ``dlcli train configs/<name>.yaml`` in this process,
then MLPClassifier / MLPRegressor (StandardScaler in front, random_state=seed)
fitted on dlcli's train + validation rows and scored on dlcli's exact test rows.
Usage: python benchmarks/peers.py [--repeats N] [--output-dir DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dlcli.config.load import load_config  # noqa: E402
from dlcli.data import load as data  # noqa: E402
from dlcli.training import plan, runner  # noqa: E402

DATASETS = ("iris", "wine", "digits", "breast_cancer", "diabetes")


def sklearn_score(config) -> tuple[float, float]:
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    ds = data.load(config)
    x = np.concatenate([ds.x_train] + ([ds.x_val] if ds.x_val is not None else []))
    y = np.concatenate([ds.y_train] + ([ds.y_val] if ds.y_val is not None else []))
    regression = ds.info.task == "regression"
    est = (MLPRegressor if regression else MLPClassifier)(
        hidden_layer_sizes=(64, 64), random_state=config.seed, max_iter=1000
    )
    t0 = time.perf_counter()
    model = make_pipeline(StandardScaler(), est).fit(x, y)
    seconds = time.perf_counter() - t0
    return float(model.score(ds.x_test, ds.y_test)), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=1, help="seeds 0..N-1 for both tools")
    parser.add_argument("--output-dir", default=None)
    args = parser.parse_args()
    out = Path(args.output_dir or tempfile.mkdtemp(prefix="dlcli-peers-"))
    print(f"{'dataset':<14} {'metric':<9} {'dlcli':>8} {'sklearn':>8} {'dlcli s':>8} {'sklearn s':>9}")
    for name in DATASETS:
        ours, theirs, t_ours, t_theirs = [], [], [], []
        for seed in range(args.repeats):
            config = load_config(ROOT / "configs" / f"{name}.yaml", [f"seed={seed}"])
            t0 = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):
                _, metrics = runner.run(plan.new_run(config, plan.Where.under(out)))
            t_ours.append(time.perf_counter() - t0)
            key = "r2" if "r2" in metrics else "accuracy"
            ours.append(metrics[key])
            score, seconds = sklearn_score(config)
            theirs.append(score)
            t_theirs.append(seconds)
        med = statistics.median
        print(f"{name:<14} {key:<9} {med(ours):>8.4f} {med(theirs):>8.4f} {med(t_ours):>8.2f} {med(t_theirs):>9.2f}")


if __name__ == "__main__":
    main()
