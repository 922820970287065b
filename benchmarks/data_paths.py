"""In-memory and streaming CSV paths vs plain pandas.read_csv + model.fit, in one script.

A generated CSV (default 1,000,000 rows x 20 float features + a binary label),
model 20-64-64-1, one epoch, batch 1024. Each variant runs in its own child
process (for a clean peak RSS), alternating, --repeats times; medians are
reported. Usage: python benchmarks/data_paths.py [--rows N] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

BASELINE = textwrap.dedent(
    """
    import json, resource, sys, time
    t0 = time.perf_counter()
    import keras, numpy as np, pandas as pd
    t_import = time.perf_counter()
    frame = pd.read_csv(sys.argv[1])
    x = frame.drop(columns=["label"]).to_numpy("float32"); y = frame["label"].to_numpy("int32")
    t_parse = time.perf_counter()
    norm = keras.layers.Normalization(); norm.adapt(x)
    model = keras.Sequential([keras.Input((20,)), norm, keras.layers.Dense(64, activation="relu"),
                              keras.layers.Dense(64, activation="relu"), keras.layers.Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    t_fit0 = time.perf_counter()
    model.fit(x, y, batch_size=1024, epochs=1, verbose=0)
    t_fit = time.perf_counter()
    print(json.dumps({"import": t_import - t0, "parse": t_parse - t_import, "fit": t_fit - t_fit0, "total": t_fit - t0,
                      "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
    """
)

DLCLI = textwrap.dedent(
    """
    import contextlib, io, json, resource, sys, time
    t0 = time.perf_counter()
    from dlcli.training import plan, runner
    from dlcli.config.load import load_config_text
    config = load_config_text(sys.argv[2], "bench.yaml")
    t_cfg = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        run, metrics = runner.run(plan.new_run(config, plan.Where.under(sys.argv[3])))
    t_end = time.perf_counter()
    timings = json.load(open(f"{run}/run.json"))["timings_s"]
    print(json.dumps({"parse": timings["load_data"], "fit": timings["fit"], "total": t_end - t0,
                      "import": timings["import_tensorflow"],
                      "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
    """
)

TF_ONLY = "import resource, json, tensorflow; print(json.dumps({'rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))"


def make_csv(path: Path, rows: int) -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    w = rng.normal(size=20)
    with open(path, "w") as fh:
        fh.write(",".join([f"f{i}" for i in range(20)] + ["label"]) + "\n")
        for start in range(0, rows, 100_000):
            x = rng.normal(size=(min(100_000, rows - start), 20))
            y = (x @ w > 0).astype(int)
            block = np.column_stack([x, y])
            np.savetxt(fh, block, delimiter=",", fmt=["%.5f"] * 20 + ["%d"])


def child(code: str, *args: str) -> dict:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "-1", "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=1800)
    if out.returncode:
        raise SystemExit(f"child failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="dlcli-bench-"))
    csv = work / "big.csv"
    make_csv(csv, args.rows)
    size_mb = csv.stat().st_size / 1e6
    base_cfg = (
        f"data: {{path: {csv}, target: label, validation_split: 0.0, test_split: 0.01, streaming: %s}}\n"
        "model: {layers: [{units: 64}, {units: 64}]}\ntraining: {epochs: 1, batch_size: 1024, plots: false}\n"
    )
    variants = {
        "pandas + fit": lambda: child(BASELINE, str(csv)),
        "dlcli in-memory": lambda: child(DLCLI, str(csv), base_cfg % "false", str(work / "runs")),
        "dlcli streaming": lambda: child(DLCLI, str(csv), base_cfg % "true", str(work / "runs")),
    }
    results = {name: [] for name in variants}
    tf_rss = statistics.median(child(TF_ONLY)["rss_mb"] for _ in range(args.repeats))
    for _ in range(args.repeats):
        for name, run in variants.items():
            results[name].append(run())
    med = lambda name, key: statistics.median(r[key] for r in results[name])  # noqa: E731
    base_total = med("pandas + fit", "total")
    print(
        f"{args.rows:,} rows x 20 features, {size_mb:.0f} MB CSV; medians of {args.repeats}; "
        f"import tensorflow alone: {tf_rss:.0f} MB peak RSS"
    )
    print(
        f"{'variant':<17} {'parse rows/s':>13} {'train rows/s':>13} {'wall s':>8} {'vs pandas':>10} {'peak RSS MB':>12} {'above TF':>9}"
    )
    for name in variants:
        parse, fit, total, rss = med(name, "parse"), med(name, "fit"), med(name, "total"), med(name, "rss_mb")
        train_rows = args.rows * (0.99 if name != "pandas + fit" else 1.0)
        parse_rate = f"{args.rows / parse:,.0f}" if name != "dlcli streaming" else f"{args.rows / parse:,.0f}*"
        print(
            f"{name:<17} {parse_rate:>13} {train_rows / fit:>13,.0f} {total:>8.2f} {total / base_total:>9.2f}x "
            f"{rss:>12.0f} {rss - tf_rss:>9.0f}"
        )
    print("* streaming 'parse' is the checking/statistics pass; its training time includes decoding the CSV")


if __name__ == "__main__":
    main()
