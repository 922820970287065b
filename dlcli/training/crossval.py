"""k-fold cross-validation (``training.cross_validation``): one run directory that owns a run per fold.

The test split is set aside as in any run. The other rows are dealt into k
folds (seeded; stratified by class, or by a group column); ``folds/<i>/`` is
a complete run of its own that trains on the other folds (its validation
split, for early stopping, comes from them) and scores fold i as its test
split. The parent then writes:

- ``cross_validation.json``: every fold's held-out metrics, their mean and
  spread, and the metrics of the pooled out-of-fold predictions;
- ``oof_predictions.csv``: each training row's prediction by the fold
  network that never saw it;
- ``model.keras``: the fold ensemble, one Keras model averaging the k
  networks' outputs behind the usual raw-column inputs, so predict, evaluate,
  export, serve and ``dlcli.load`` use it as any run's model;
- ``metrics.json``: the ensemble's test metrics and ``cv_<metric>`` /
  ``cv_<metric>_std`` (mean and spread over the folds).

``--resume`` on the parent keeps complete folds and resumes the stopped one.
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

import numpy as np

from dlcli.errors import DataError, DlcliError, Interrupted, RunDirError
from dlcli.log import note
from dlcli.runs import store
from dlcli.runs.run import Run, Status, status_of
from dlcli.training.observer import Observer
from dlcli.training.plan import Where

FOLDS = "folds"
SUMMARY = "cross_validation.json"
OOF = "oof_predictions.csv"


def train(config, where: Where, *, device: str | None = None, observers: Iterable[Observer] = ()):
    """Train ``config`` in a new run directory: cross-validated when it asks (``run``), else one run."""
    if config.training.cross_validation is not None:
        return run(config, where, device=device, observers=observers)
    from dlcli.training import plan, runner

    return runner.run(plan.new_run(config, where, device=device), observers)


def resume_any(run_dir: str | Path, *, device: str | None = None, observers: Iterable[Observer] = ()):
    """Go on with a stopped run: a cross-validated one at its fold (``resume``), any other from its checkpoint."""
    if is_parent(run_dir):
        return resume(run_dir, device=device, observers=observers)
    from dlcli.training import plan, runner

    return runner.run(plan.resume(run_dir, device=device), observers)


def run(
    config, where: Where, *, device: str | None = None, observers: Iterable[Observer] = (),
    score_test: bool = True,
) -> tuple[Path, dict]:  # fmt: skip
    """Cross-validate ``config`` (a ``Config`` with ``training.cross_validation``) in a new run directory."""
    parent = _Parent.new(config, where, device, score_test)
    return parent.go(list(observers))


def resume(run_dir: str | Path, *, device: str | None = None, observers: Iterable[Observer] = ()) -> tuple[Path, dict]:
    """Go on with an interrupted (failed, killed) cross-validated run: complete folds stay, the rest train."""
    from dlcli.training.plan import resumable_state

    path = Path(run_dir)
    state = resumable_state(path)
    parent = _Parent.reopen(path, state, device)
    return parent.go(list(observers))


def is_parent(run_dir: str | Path) -> bool:
    """Is ``run_dir`` a cross-validated run's own directory (not one of its folds)?"""
    state = store.read_json_if_present(Path(run_dir) / store.RUN, {})
    return isinstance(state, dict) and "cross_validation" in state


class _Parent:
    """The cross-validated run: its data read once, its ``Run``, and the folds under it."""

    def __init__(self, config, current: Run, device, score_test: bool, resumed: bool):
        from dlcli.config.resolve import resolve
        from dlcli.data import sources
        from dlcli.data.load import load, read

        self.config, self.current, self.device, self.score_test = config, current, device, score_test
        self.cv = config.training.cross_validation
        self.timer = store.Timer()
        module = sources.module(config.data.source)
        streams = getattr(module, "streams", None)
        if streams is not None and streams(config):
            raise DataError(
                f"{config.where(('data', 'streaming'))}: cross_validation needs the rows in memory and this file "
                "is streamed; set data.streaming: false"
            )
        with self.timer("load_data"):
            self.raw = read(config)
            whole = config.data.model_copy(update={"validation_split": 0.0})  # every training row: fill, vocab
            self.dataset = load(config.copy_with(data=whole), raw=self.raw)
        info = self.dataset.info
        if resumed:
            from dlcli.training.plan import same_data

            same_data(current.path, info)
        self.resolved = resolve(config, info.task, info.n_classes, info.target_spread, rows=info.rows, streamed=False)
        self.resumed = resumed

    @classmethod
    def new(cls, config, where: Where, device, score_test: bool) -> _Parent:
        current = Run.at(where.path) if where.path is not None else None
        parent = cls(config, current, device, score_test, resumed=False)
        if current is None:
            parent.current = Run.create(where.output_dir, parent.resolved.name)
        return parent

    @classmethod
    def reopen(cls, path: Path, state: dict, device) -> _Parent:
        from dlcli.config.load import load_saved

        config = load_saved(path / store.CONFIG)
        if config.training.cross_validation is None:
            raise RunDirError(f"{path}: config.yaml has no training.cross_validation; not a cross-validated run")
        return cls(config, Run(path, state), device, state.get("score_test", True), resumed=True)

    # -- the run ----------------------------------------------------------------------------------

    def go(self, observers: list) -> tuple[Path, dict]:
        current, k = self.current, self.cv.folds
        if self.resumed:
            current.resume(0)
        else:
            current.write_config(self.resolved)
            if self.dataset.info.classes is not None:
                current.write_json(store.LABELS, self.dataset.info.classes)
            current.write_json(store.ENVIRONMENT, {"data": self._data_facts()})  # what a resume checks the data by
            current.begin(self.resolved.name, self.resolved.training.epochs, score_test=self.score_test)
            current.record(cross_validation={"folds": k})
        current.running_here()
        fold = 0
        try:
            with _quiet():
                for fold in range(k):
                    self._fold(fold, observers)
                metrics = self._finish()
        except (Interrupted, KeyboardInterrupt):
            current.interrupt(timings=self.timer.times)
            raise Interrupted(
                f"interrupted in fold {fold + 1}/{k} (its last epoch is kept in {current.path / FOLDS / str(fold)}); "
                f"{current.path} is marked interrupted; resume with: dlcli train --resume {current.path}"
            ) from None
        except DlcliError as exc:
            current.fail(str(exc), timings=self.timer.times)
            raise
        except Exception as exc:
            current.fail(f"{type(exc).__name__}: {exc}", timings=self.timer.times)
            raise
        return current.path, metrics

    def _fold(self, fold: int, observers: list) -> None:
        """Train fold ``fold`` in ``folds/<fold>/``: skipped when complete, resumed when it stopped, else new."""
        from dlcli.training import plan, runner

        path = self.current.path / FOLDS / str(fold)
        k = self.cv.folds
        if (path / store.RUN).exists():
            status = status_of(store.read_state(path))
            if status is not None and status.finished and status is not Status.PRUNED:
                note(f"fold {fold + 1}/{k}: complete in {path}; kept")
                return
            note(f"fold {fold + 1}/{k}: resuming {path}")
            runner.run(plan.resume(path, device=self.device), observers)
        else:
            if path.exists():  # made, but stopped before its run.json: nothing in it to keep
                import shutil

                shutil.rmtree(path)
            note(f"fold {fold + 1}/{k}: training on {k - 1} folds, scoring fold {fold + 1}")
            planned = plan.new_run(self.config, Where.exactly(path), device=self.device, fold=fold, raw=self.raw)
            runner.run(planned, observers)
        epochs = int(store.read_json_if_present(path / store.RUN, {}).get("epochs_done", 0))
        self.current.fold_done(fold + 1, max(self.current.state.get("epochs_done", 0), epochs))

    def _finish(self) -> dict:
        """The out-of-fold metrics and predictions, the fold ensemble saved as model.keras, the test metrics."""
        from dlcli.training.runner import weights_sha256

        with self.timer("ensemble"):
            networks, outputs, truth, rows = self._fold_outputs()
            ensemble, made = self._ensemble(networks)
        summary = self._summary(outputs, truth)
        metrics: dict = {}
        if self.score_test:
            from dlcli.data.load import load
            from dlcli.scoring import score

            with self.timer("evaluate"):  # the test split as evaluate rebuilds it, so the two agree
                test = load(self.config, raw=self.raw).test()
                metrics = score(ensemble, *test, self.resolved, self.dataset.info.classes)
        for name, spread in summary["folds_mean"].items():
            metrics[f"cv_{name}"] = spread
            metrics[f"cv_{name}_std"] = summary["folds_std"][name]
        with self.timer("save"):
            self.current.save_model(self._saved(ensemble, made))
            self.current.write_json(store.ENVIRONMENT, self._environment())
            self.current.write_json(SUMMARY, summary)
            self.current.write_text(OOF, self._oof_csv(outputs, truth, rows))
            self.current.write_json(store.METRICS, metrics)
        self.current.complete(
            weights_sha256=weights_sha256(ensemble), timings={**self.timer.times, "total": self.timer.total()}
        )
        if self.resolved.training.plots:
            from dlcli.training.runner import write_plots

            write_plots(self.current, self.timer)
        return metrics

    # -- the pieces ---------------------------------------------------------------------------------

    def _fold_paths(self) -> list[Path]:
        return [self.current.path / FOLDS / str(i) for i in range(self.cv.folds)]

    def _fold_outputs(self):
        """(each fold's trained network, its outputs on its own rows, their labels, their row positions)."""
        from dlcli.data.features import model_inputs
        from dlcli.data.load import load
        from dlcli.model.columns import trained_part
        from dlcli.runs.saved import open_run

        networks, outputs, truth, rows = [], [], [], []
        for i, path in enumerate(self._fold_paths()):
            saved = open_run(path)
            network = trained_part(saved.load_model(compile=False))
            data = load(self.config, fold=i, raw=self.raw)
            x, y = data.test()
            outputs.append(_outputs(network, model_inputs(x)))
            truth.append(np.asarray(y))
            rows.append(data.test_rows)
            networks.append(network)
        return networks, outputs, truth, rows

    def _ensemble(self, networks):
        """(the averaging model, compiled with the run's loss and metrics (what evaluate scores with), those
        objectives)."""
        from dlcli.model.build import precision
        from dlcli.model.ensemble import average
        from dlcli.training import compile as compiling

        with precision(self.resolved.training.mixed_precision):
            ensemble = average(networks, self.resolved.name.replace(".", "_"))
            made = compiling.objectives(self.resolved, 1, classes=self.dataset.info.classes)
            made = replace(made, members=None)  # each fold's saved model averages its own members
            compiling.compile_model(ensemble, made)
        return ensemble, made

    def _saved(self, ensemble, made):
        """What model.keras holds: the ensemble behind one input per raw column (tables), compiled."""
        from dlcli.model.build import precision
        from dlcli.model.columns import raw_model, schema_of
        from dlcli.training import compile as compiling

        with precision(self.resolved.training.mixed_precision):
            saved = raw_model(ensemble, schema_of(self.dataset.info))
            if saved is not ensemble:
                compiling.compile_like(saved, ensemble, made)
        return saved

    def _summary(self, outputs, truth) -> dict:
        """cross_validation.json: per-fold held-out metrics, their mean and spread, and the pooled ones."""
        from dlcli.scoring import of_outputs, scalars

        per_fold = []
        for path in self._fold_paths():
            per_fold.append(scalars(store.read_json(path / store.METRICS)))
        names = [n for n in per_fold[0] if all(n in m for m in per_fold)]
        mean = {n: float(np.mean([m[n] for m in per_fold])) for n in names}
        std = {n: float(np.std([m[n] for m in per_fold])) for n in names}
        pooled = of_outputs(np.concatenate(outputs), np.concatenate(truth), self.resolved, self.dataset.info.classes)
        return {
            "folds": self.cv.folds,
            "stratified": self.dataset.info.task != "regression" and self.cv.stratify and self.cv.group is None,
            "group": self.cv.group,
            "rows": [int(len(t)) for t in truth],
            "per_fold": per_fold,
            "folds_mean": mean,
            "folds_std": std,
            "out_of_fold": pooled,
        }

    def _oof_csv(self, outputs, truth, rows) -> str:
        """One line per training row, in data order: its fold, its label and the prediction of that fold's network."""
        from dlcli.model.head import predicted_classes, probabilities

        classes = self.dataset.info.classes
        buf = io.StringIO()
        writer = csv.writer(buf)
        order = np.argsort(np.concatenate(rows), kind="stable")
        fold_of = np.concatenate([np.full(len(t), i) for i, t in enumerate(truth)])[order]
        row_of = np.concatenate(rows)[order]
        y = np.concatenate(truth)[order]
        out = np.concatenate(outputs)[order]
        if classes is None:
            writer.writerow(["row", "fold", "target", "prediction"])
            for r, f, t, p in zip(row_of, fold_of, y.reshape(-1), out.reshape(-1), strict=True):
                writer.writerow([int(r), int(f), f"{float(t):.6g}", f"{float(p):.6g}"])
            return buf.getvalue()
        pred = predicted_classes(out, self.resolved.output.activation)
        proba = probabilities(out, self.resolved.output.activation)
        writer.writerow(["row", "fold", "target", "prediction", *(f"p_{c}" for c in classes)])
        for r, f, t, p, ps in zip(row_of, fold_of, y.reshape(-1), pred, proba, strict=True):
            writer.writerow([int(r), int(f), classes[int(t)], classes[int(p)], *(f"{float(v):.6f}" for v in ps)])
        return buf.getvalue()

    def _environment(self) -> dict:
        """Fold 0's environment.json (versions, devices, execution) with the whole training data's facts."""
        first = store.read_json_if_present(self._fold_paths()[0] / store.ENVIRONMENT, {})
        return {
            **first,
            "data": self._data_facts(),
            "cross_validation": {"folds": self.cv.folds, "group": self.cv.group},
        }

    def _data_facts(self) -> dict:
        """environment.json's ``data`` for the whole run: every training row's fills and vocabularies."""
        from dlcli.training.record import data_facts

        facts = data_facts(self.resolved, self.dataset.info)
        facts["splits"] = {"train": self.dataset.rows("train"), "test": self.dataset.rows("test")}
        return facts


def _outputs(network, x) -> np.ndarray:
    """``network``'s outputs on ``x``, called directly in slices (``predict`` would trace anew for each fold)."""
    import keras

    from dlcli.data.features import rows, take

    n, step = rows(x), 8192
    parts = []
    for i in range(0, n, step):
        part = keras.tree.map_structure(keras.ops.convert_to_tensor, take(x, slice(i, i + step)))
        parts.append(np.asarray(network(part, training=False)))
    return np.concatenate(parts)


@contextlib.contextmanager
def _quiet():
    """TensorFlow's "triggered tf.function retracing" warning (each fold is a new model in this process, so it
    fires for every fold after the fifth) dropped, and the note on filled holes (the data is prepared once per
    fold) said once, when the whole data was read."""
    from dlcli.log import LOGGER, at_most

    with (
        at_most(logging.getLogger("tensorflow"), "triggered tf.function retracing", 0),
        at_most(LOGGER, "missing values filled with", 0),
    ):
        yield


def summary_table(run_dir: str | Path) -> str | None:
    """The cross-validation table ``train`` prints (fold mean ± std beside the pooled out-of-fold value), or None
    for a run without folds."""
    from dlcli.text import table

    summary = store.read_json_if_present(Path(run_dir) / SUMMARY)
    if not summary:
        return None
    pooled, lines = summary["out_of_fold"], []
    for name, mean in summary["folds_mean"].items():
        both = f"{pooled[name]:.6g}" if isinstance(pooled.get(name), float) else ""
        lines.append((name, f"{mean:.6g} ± {summary['folds_std'][name]:.3g}", both))
    head = f"cross-validation, {summary['folds']} folds (each scored on the rows its network never saw):\n"
    return head + table(lines, header=("", "folds: mean ± std", "out of fold"))
