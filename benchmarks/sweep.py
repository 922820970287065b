"""`make bench-sweep`: `dlcli sweep` (Optuna TPE + median pruning, 2 workers) against Keras Tuner's RandomSearch.

Both search the same space with the same budget on the same data:
- data: scikit-learn digits, dlcli's own seeded split of configs/digits.yaml
  (test 0.2, validation 0.1 of the rest), z-scored with the training split's
  statistics inside the model (dlcli's ``normalize: true``; a Normalization
  layer with the same mean and variance for Keras Tuner);
- model: Dense(units_0, relu) -> Dropout(dropout_0) -> Dense(units_1, relu) ->
  Dense(10, softmax), Adam, sparse categorical cross-entropy;
- space: learning rate 1e-4..1e-1 (log), units_0 and units_1 16..512 (log),
  dropout_0 0..0.5, batch size 32 | 64 | 128;
- budget: 20 trials of at most 30 epochs; no early stopping in either (dlcli's
  median pruner may stop a trial after 3 epochs: that is what is measured).

A trial's score is its best epoch's validation accuracy (Keras Tuner's own
``trial.score``; for dlcli the best ``val_accuracy`` of the trial's
history.csv), over completed trials. Wall times run from each tool's process
start to its exit, TensorFlow's import included. "dlcli to reach KT's best":
when the first dlcli trial scoring at least Keras Tuner's best finished
(run.json's ``finished_at``, a 1 s resolution). Memory: each process's RSS is
sampled every 0.2 s; a worker's growth is its peak RSS up to the end of its
last trial over its RSS at the end of its first (a dlcli worker is told by
run.json's ``pid``).

Keras Tuner runs in its own virtualenv, benchmarks/.venv-kt (made on first use,
then reused: tensorflow and keras as in this environment, keras-tuner 1.4.8,
tensorboard, which it imports in every trial); dlcli does not depend on it.
Each repeat runs both, in alternating order, with seed = the repeat's index.

Usage: python benchmarks/sweep.py [--repeats 3] [--trials 20] [--epochs 30] [--only kt|dlcli]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from importlib import metadata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's dlcli, as its children get
from common import PYTHON, ROOT, Row, env, machine, table  # noqa: E402

HERE = Path(__file__).resolve().parent
KT_VENV = HERE / ".venv-kt"
KT_PACKAGES = ("keras-tuner==1.4.8", "tensorboard")  # plus this environment's tensorflow, keras and numpy
WORKERS = 2
GOAL_SPEEDUP = 0.33  # dlcli reaches Keras Tuner's best within this share of Keras Tuner's wall time
GOAL_RSS_GROWTH = 1.2

KT_SEARCH = r"""
import json, sys, time

import keras
import keras_tuner as kt
import numpy as np

npz, out, trials, epochs, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
d = np.load(npz)
keras.utils.set_random_seed(seed)


class MLP(kt.HyperModel):
    def build(self, hp):
        model = keras.Sequential([
            keras.Input((d["x_train"].shape[1],)),
            keras.layers.Normalization(mean=d["mean"], variance=d["var"]),
            keras.layers.Dense(hp.Int("units_0", 16, 512, sampling="log"), activation="relu"),
            keras.layers.Dropout(hp.Float("dropout_0", 0.0, 0.5)),
            keras.layers.Dense(hp.Int("units_1", 16, 512, sampling="log"), activation="relu"),
            keras.layers.Dense(int(d["classes"]), activation="softmax"),
        ])
        rate = hp.Float("learning_rate", 1e-4, 1e-1, sampling="log")
        model.compile(keras.optimizers.Adam(rate), "sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    def fit(self, hp, model, *args, **kwargs):
        return model.fit(*args, batch_size=hp.Choice("batch_size", [32, 64, 128]), **kwargs)


class Search(kt.RandomSearch):
    ended = []

    def on_trial_end(self, trial):
        super().on_trial_end(trial)
        self.ended.append({"number": len(self.ended), "finished": time.time(), "score": trial.score})


tuner = Search(MLP(), objective="val_accuracy", max_trials=trials, seed=seed, directory=out, project_name="kt",
               overwrite=True)
tuner.search(d["x_train"], d["y_train"], validation_data=(d["x_val"], d["y_val"]), epochs=epochs, verbose=0)
print(json.dumps({"trials": Search.ended}))
"""


def sweep_config(trials: int, epochs: int, seed: int) -> str:
    """The dlcli side: configs/digits.yaml's data, the model family above, and its ``sweep:`` block."""
    return f"""\
name: digits-sweep
seed: {seed}
data: {{source: sklearn, name: digits, test_split: 0.2, validation_split: 0.1, normalize: true}}
model:
  layers:
    - {{units: 128, activation: relu, dropout: 0.2}}
    - {{units: 128, activation: relu}}
optimizer: {{name: adam, learning_rate: 0.001}}
metrics: [accuracy]
training: {{epochs: {epochs}, batch_size: 32}}
sweep:
  metric: val_accuracy
  direction: maximize
  trials: {trials}
  sampler: {{name: tpe, seed: {seed}}}
  pruner: {{name: median, warmup_epochs: 3}}
  params:
    optimizer.learning_rate: {{float: [1.0e-4, 1.0e-1], log: true}}
    model.layers[0].units: {{int: [16, 512], log: true}}
    model.layers[1].units: {{int: [16, 512], log: true}}
    model.layers[0].dropout: {{float: [0.0, 0.5]}}
    training.batch_size: {{choice: [32, 64, 128]}}
"""


def kt_python() -> Path:
    """benchmarks/.venv-kt/bin/python with Keras Tuner, made once and reused while its packages stay the same."""
    wanted = [f"{p}=={metadata.version(p)}" for p in ("tensorflow", "keras", "numpy")] + list(KT_PACKAGES)
    python, marker = KT_VENV / "bin" / "python", KT_VENV / "installed.txt"
    if marker.exists() and marker.read_text().split() == wanted:
        return python
    print(f"making {KT_VENV}: {' '.join(wanted)} (once)", file=sys.stderr)
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(KT_VENV)], check=True)
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, *wanted], check=True)
    marker.write_text("\n".join(wanted) + "\n")
    return python


def split_npz(path: Path, seed: int) -> None:
    """dlcli's train and validation split of configs/digits.yaml (with ``seed``) and its normalization statistics."""
    import numpy as np

    from dlcli.config.load import load_config
    from dlcli.data import load as data
    from dlcli.data.statistics import normalization_stats

    ds = data.load(load_config(ROOT / "configs" / "digits.yaml", [f"seed={seed}"]))
    mean, var = normalization_stats(ds.x_train, None)
    classes = len(np.unique(np.concatenate([ds.y_train, ds.y_val, ds.y_test])))
    np.savez(path, x_train=ds.x_train, y_train=ds.y_train, x_val=ds.x_val, y_val=ds.y_val, mean=mean, var=var,
             classes=classes)  # fmt: skip


class RssSampler(threading.Thread):
    """RSS of a process and all its descendants, every ``interval`` seconds: pid -> [(time, MB), ...]."""

    def __init__(self, root: int, interval: float = 0.2):
        super().__init__(daemon=True)
        self.root, self.interval = root, interval
        self.samples: dict[int, list[tuple[float, float]]] = {}
        self.done = threading.Event()

    def _tree(self) -> list[int]:
        children: dict[int, list[int]] = {}
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                try:
                    stat = Path(entry.path, "stat").read_text()
                except OSError:
                    continue
                ppid = int(stat.rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry.name))
        found, todo = [], [self.root]
        while todo:
            pid = todo.pop()
            found.append(pid)
            todo.extend(children.get(pid, []))
        return found

    def run(self) -> None:
        while not self.done.is_set():
            now = time.time()
            for pid in self._tree():
                try:
                    status = Path(f"/proc/{pid}/status").read_text()
                except OSError:
                    continue
                kb = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
                self.samples.setdefault(pid, []).append((now, kb / 1024))
            self.done.wait(self.interval)

    def stop(self) -> None:
        self.done.set()
        self.join()

    def growth(self, pid: int, ends: list[float]) -> dict | None:
        """RSS (MB) at the end of the first trial, peak up to the end of the last, for trials ending at ``ends``."""
        samples = self.samples.get(pid, [])
        first = next((mb for t, mb in samples if t >= ends[0]), None)
        upto = [mb for t, mb in samples if t <= ends[-1] + self.interval]
        if first is None or not upto:
            return None
        return {"pid": pid, "trials": len(ends), "first_mb": first, "peak_mb": max(upto), "growth": max(upto) / first}


def sampled(args: list[str], what: str) -> tuple[float, float, str, RssSampler]:
    """Run ``args`` with its process tree's RSS sampled: (launch time, wall seconds, stdout, the samples)."""
    launched = time.time()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env())
    sampler = RssSampler(proc.pid)
    sampler.start()
    out, err = proc.communicate(timeout=3600)
    wall = time.time() - launched
    sampler.stop()
    if proc.returncode:
        raise SystemExit(f"{what} failed ({proc.returncode}): {err[-3000:]}")
    return launched, wall, out, sampler


def run_kt(python: Path, npz: Path, work: Path, trials: int, epochs: int, seed: int) -> dict:
    """Keras Tuner's RandomSearch in its own process: wall time, each trial's score and end, its RSS growth."""
    args = [str(python), "-c", KT_SEARCH, str(npz), str(work / "kt"), str(trials), str(epochs), str(seed)]
    launched, wall, out, sampler = sampled(args, "Keras Tuner's search")
    ended = json.loads(out.strip().splitlines()[-1])["trials"]
    done = [{"number": t["number"], "score": t["score"], "at": t["finished"] - launched} for t in ended]
    rss = sampler.growth(sampler.root, [t["finished"] for t in ended])
    return {"wall": wall, "trials": done, "workers": [rss] if rss else []}


def _finished(run_dir: Path) -> tuple[float, int | None] | None:
    """(finish time as time.time(), pid) of a trial's run, from its run.json."""
    try:
        state = json.loads((run_dir / "run.json").read_text())
    except (OSError, ValueError):
        return None
    if not state.get("finished_at"):
        return None
    return datetime.fromisoformat(state["finished_at"]).timestamp(), state.get("pid")


def _best_epoch(run_dir: Path, metric: str) -> float | None:
    """The best value of ``metric`` in a run's history.csv."""
    import csv

    try:
        with open(run_dir / "history.csv", newline="") as f:
            values = [float(row[metric]) for row in csv.DictReader(f) if row.get(metric) not in (None, "")]
    except (OSError, KeyError, ValueError):
        return None
    return max(values) if values else None


def run_dlcli(config: Path, out: Path, workers: int = WORKERS) -> dict:
    """``dlcli sweep CONFIG --workers N --output-dir OUT``, then ``dlcli sweep status OUT/<name> --json``.

    Each completed trial's score and finish time come from its run directory;
    the RSS of each worker process (the sweep's descendants) is attributed to
    the trials whose run.json names its pid.
    """
    args = [PYTHON, "-m", "dlcli", "sweep", str(config), "--workers", str(workers), "--output-dir", str(out)]
    launched, wall, stdout, sampler = sampled(args, " ".join(args[1:]))
    sweep_dir = Path(stdout.strip().splitlines()[-1])  # the sweep directory is the last line
    status = subprocess.run(
        [PYTHON, "-m", "dlcli", "sweep", "status", str(sweep_dir), "--json"],
        capture_output=True,
        text=True,
        env=env(),
        check=False,
    )
    if status.returncode:
        raise SystemExit(
            f"dlcli sweep status {sweep_dir} --json failed: {status.stdout[-1000:]}{status.stderr[-2000:]}"
        )
    listed = json.loads(status.stdout)
    done, ends_by_pid = [], {}
    for trial in listed["trials"]:
        run_dir = Path(trial.get("run_dir") or sweep_dir / "trials" / str(trial["number"]))
        finished = _finished(run_dir)
        if finished is None:
            continue
        at, pid = finished
        ends_by_pid.setdefault(pid, []).append(at)
        if trial["state"] == "complete":
            score = _best_epoch(run_dir, "val_accuracy")
            done.append({"number": trial["number"], "score": trial["value"] if score is None else score,
                         "value": trial["value"], "at": at - launched})  # fmt: skip
    done.sort(key=lambda t: t["at"])
    per_worker = [sampler.growth(pid, sorted(ends)) for pid, ends in ends_by_pid.items() if pid is not None]
    states = [t["state"] for t in listed["trials"]]
    return {
        "wall": wall,
        "trials": done,
        "workers": [w for w in per_worker if w],
        "pruned": states.count("pruned"),
        "reported_best": (listed.get("best") or {}).get("value"),
    }


def reach(trials: list[dict], target: float) -> float:
    """Seconds until the first trial scoring at least ``target`` finished (inf: never)."""
    return min(
        (t["at"] for t in trials if t["score"] is not None and t["score"] >= target - 1e-9), default=float("inf")
    )


def seconds(at: float) -> str:
    return f"{at:.0f} s" if at != float("inf") else "never"


def best(result: dict) -> float:
    """The best score of a search's completed trials."""
    return max((t["score"] for t in result["trials"] if t["score"] is not None), default=float("nan"))


def rss_text(workers: list[dict], budget: int) -> str:
    """One worker per entry: trials run, RSS after the first, peak up to the last, growth."""
    return "; ".join(
        f"pid {w['pid']}: {w['trials']} trials, {w['first_mb']:.0f} -> {w['peak_mb']:.0f} MB ({w['growth']:.2f}x)"
        + ("" if w["trials"] >= budget else " (fewer trials than its share)")
        for w in workers
    )


def rows(kt: list[dict], ours: list[dict], trials: int) -> list[Row]:
    """The table's rows over the repeats so far (each list: one entry per repeat)."""
    kt_best, our_best = [best(r) for r in kt], [best(r) for r in ours]
    share = -(-trials // WORKERS)
    warm = [max((w["growth"] for w in r["workers"] if w["trials"] >= share), default=float("nan")) for r in ours]
    return [
        Row("sweep: wall time, whole budget", "s", [r["wall"] for r in kt], [r["wall"] for r in ours], False, "-"),
        Row("sweep: best val_accuracy", "acc", kt_best, our_best, True, ">= 1.00x", 1.0),
        Row(
            "sweep: time to Keras Tuner's best",
            "s",
            [r["wall"] for r in kt],
            [reach(r["trials"], b) for r, b in zip(ours, kt_best, strict=True)],
            False,
            f"<= {GOAL_SPEEDUP}x KT's wall",
            1 / GOAL_SPEEDUP,
            "baseline: Keras Tuner's wall time for the whole budget",
        ),
        Row(
            "sweep: worker RSS growth",
            "x",
            [max((w["growth"] for w in r["workers"]), default=float("nan")) for r in kt],
            warm,
            False,
            f"<= {GOAL_RSS_GROWTH}x",
            note="peak RSS up to the last trial / RSS after the first; dlcli: its largest over workers with a full share",
            goal_value=GOAL_RSS_GROWTH,
        ),
    ]


def repeat_text(kt: dict | None, ours: dict | None, trials: int) -> str:
    """What one repeat found, tool by tool."""
    lines = []
    if kt:
        kt_best = best(kt)
        lines += [
            f"Keras Tuner RandomSearch: {len(kt['trials'])} trials in {kt['wall']:.0f} s, best val_accuracy "
            f"{kt_best:.4f}, first reached at {seconds(reach(kt['trials'], kt_best))}",
            f"  RSS: {rss_text(kt['workers'], trials)}",
        ]
    if ours:
        lines += [
            f"dlcli sweep (TPE, median pruning, {WORKERS} workers): {len(ours['trials'])} complete and "
            f"{ours['pruned']} pruned trials in {ours['wall']:.0f} s, best val_accuracy {best(ours):.4f} "
            f"(status reports {ours['reported_best']}), first reached at {seconds(reach(ours['trials'], best(ours)))}"
            + (f"; Keras Tuner's best reached at {seconds(reach(ours['trials'], best(kt)))}" if kt else ""),
            f"  RSS: {rss_text(ours['workers'], -(-trials // WORKERS))}",
        ]
    return "\n".join(lines)


def measure(repeats: int, trials: int = 20, epochs: int = 30, only: str | None = None) -> list[Row]:
    """Both searches ``repeats`` times, alternating which goes first; prints each repeat; the rows of their medians."""
    python = kt_python() if only != "dlcli" else None
    kt, ours = [], []
    with tempfile.TemporaryDirectory(prefix="dlcli-bench-sweep-") as tmp:
        for seed in range(repeats):
            work = Path(tmp) / str(seed)
            work.mkdir()
            npz, config = work / "split.npz", work / "sweep.yaml"
            split_npz(npz, seed)
            config.write_text(sweep_config(trials, epochs, seed))
            for name in ("kt", "dlcli") if seed % 2 == 0 else ("dlcli", "kt"):
                if only not in (None, name):
                    continue
                if name == "kt":
                    kt.append(run_kt(python, npz, work, trials, epochs, seed))
                else:
                    ours.append(run_dlcli(config, work / "dlcli"))
            print(f"\n== repeat {seed + 1} of {repeats} (seed {seed}; {trials} trials of at most {epochs} epochs)")
            if kt and ours:
                print(table(rows(kt[-1:], ours[-1:], trials)))
            print(repeat_text(kt[-1] if kt else None, ours[-1] if ours else None, trials))
    return rows(kt, ours, trials) if kt and ours else []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--only", choices=("kt", "dlcli"), help="run one side alone (no comparison)")
    args = parser.parse_args()
    start = time.perf_counter()
    found = measure(args.repeats, args.trials, args.epochs, args.only)
    if found:
        print(f"\ndlcli sweep vs Keras Tuner, medians of {args.repeats} alternating runs; {machine()}")
        print(table(found))
    print(f"({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
