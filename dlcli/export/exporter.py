"""``dlcli export``: write a run's model in a serving format, check it in a fresh process, then keep it.

The artefact is written to a hidden directory beside its place and loaded
by a fresh ``python -m dlcli.export.check`` with the format's own runtime.
Its predictions on raw rows (``rows.check_rows``), at batch 1 and at an odd
batch, are compared with ``dlcli predict``'s probabilities (classification)
or values (regression). Only when every difference is within the format's
tolerance is the artefact renamed into place, with ``export.json``
recording the figures; otherwise nothing that looks finished is left.

Layout under ``DIR`` (default: ``RUN_DIR/export/FORMAT``):

- ``savedmodel``: ``DIR/<name>/<version>/`` as TF Serving reads a model base
  path (the next free version number), ``DIR/export.json``;
- ``litert``: ``DIR/model.tflite``, ``onnx``: ``DIR/model.onnx``; each with
  ``DIR/preprocessing.json`` when the run has categorical columns, and
  ``DIR/export.json``.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import platform
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dlcli.errors import ExportError, MissingExtra, OutputError, UsageError, writing
from dlcli.export import formats
from dlcli.export.check import MISSING_RUNTIME
from dlcli.export.rows import CheckRows, check_rows
from dlcli.runs import store
from dlcli.runs.saved import SavedRun, open_run
from dlcli.version import __version__

FORMATS = ("savedmodel", "litert", "onnx")
TOLERANCE = {"savedmodel": 1e-5, "litert": 1e-4, "onnx": 1e-5}
BATCHES = (1, 7)
EXPORT_JSON = "export.json"
# What writing and checking each format needs beyond dlcli's own dependencies: module -> its package.
NEEDS = {
    "savedmodel": {},
    "litert": {"ai_edge_litert": "ai-edge-litert"},
    "onnx": {"tf2onnx": "tf2onnx", "onnx": "onnx", "onnxruntime": "onnxruntime"},
}
EXTRA = "pip install 'dlcli[export]'"


@dataclass
class Exported:
    path: Path  # the artefact: a SavedModel version directory, or the directory holding model.tflite / model.onnx
    record: dict  # what export.json says

    def summary(self) -> list[str]:
        """What ``dlcli export`` says on stderr: the check's figures, and how categories go in."""
        check = self.record["check"]
        scaled = " x max(1, |value|)" if "relative" in check["rule"] else ""
        lines = [
            f"checked with {check['runtime']} in a fresh process: max |difference| from dlcli predict "
            f"{check['max_abs_difference_overall']:.2g} (tolerance {check['tolerance']:g}{scaled}) on {check['rows']} "
            f"rows at batch sizes {', '.join(map(str, check['batch_sizes']))}"
        ]
        if self.record["model"].get("preprocessing"):
            lines.append(
                f"categorical columns go in as vocabulary indices: see {self.record['model']['preprocessing']}"
            )
        return lines


def export(run_dir: str | Path, fmt: str, output: str | None = None, *, data: str | None = None) -> Exported:
    """Export the run at ``run_dir`` in ``fmt`` to ``output`` (see the module docstring); checked before kept."""
    if fmt not in FORMATS:
        raise UsageError(f"--format {fmt!r}: expected one of {', '.join(FORMATS)}")
    require(fmt)
    run = open_run(run_dir)
    target = Path(output) if output else run.path / "export" / fmt
    place = _place(fmt, run, target)
    work = place.with_name(f".{place.name}.tmp-{os.getpid()}")
    shutil.rmtree(work, ignore_errors=True)
    made = [d for d in (place.parent, *place.parent.parents) if not d.exists()]  # removed again if nothing is kept
    try:
        with writing(target):
            work.mkdir(parents=True)  # before the model loads: an -o that cannot be written stops here
        rows = check_rows(run, data)
        from dlcli.predict import Predictor

        predictor = Predictor(run, device="cpu")  # the runtimes check on the CPU too
        expected = _expected(predictor, rows)
        described = _write(fmt, predictor.model, run, work)
        record = _check(fmt, run, work, place, rows, expected, described)
        if fmt != "savedmodel":
            _write_json(work / EXPORT_JSON, record)
        with writing(place):
            _into_place(work, place)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        for directory in made:
            with contextlib.suppress(OSError):
                directory.rmdir()  # only when empty, deepest first
        raise
    if fmt == "savedmodel":
        _write_json(target / EXPORT_JSON, record)
    return Exported(path=place, record=record)


def _write(fmt: str, model, run: SavedRun, work: Path) -> dict:
    """``formats.write``, its converter's failures (an op the format lacks, say) as one ExportError line."""
    try:
        with _quiet():
            return formats.write(fmt, model, run.inputs, work)
    except Exception as exc:
        if isinstance(exc, OSError) and str(exc.filename or "").startswith(str(work)):  # a disk full, say
            place = work.with_name(work.name[1:].rsplit(".tmp-", 1)[0])
            raise OutputError(place, exc.strerror or str(exc)) from exc
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        raise ExportError(f"writing the {fmt} export failed: {type(exc).__name__}: {first}") from exc


def require(fmt: str) -> None:
    """Exit 2 naming the extra when a module ``fmt`` needs is not installed."""
    absent = [package for module, package in NEEDS[fmt].items() if not _installed(module)]
    if absent:
        raise MissingExtra(f"--format {fmt} needs {', '.join(absent)}, not installed: {EXTRA}")


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _place(fmt: str, run: SavedRun, target: Path) -> Path:
    """Where the artefact goes; refuses a directory that holds something other than a dlcli export."""
    if target.exists() and not target.is_dir():
        raise UsageError(f"{target}: exists and is not a directory; give another -o DIR")
    if fmt == "savedmodel":
        name = re.sub(r"[^A-Za-z0-9_.\-]+", "_", run.config.name).strip("_.") or "model"
        base = target / name
        versions = [int(p.name) for p in base.glob("*") if p.is_dir() and p.name.isdigit()]
        return base / str(max(versions, default=0) + 1)
    if target.is_dir() and any(target.iterdir()):
        previous = store.read_json_if_present(target / EXPORT_JSON) or {}
        if previous.get("format") != fmt:
            raise UsageError(f"{target}: not empty and not a dlcli {fmt} export; give another -o DIR")
    return target


def _expected(predictor, rows: CheckRows) -> np.ndarray:
    """``dlcli predict``'s probabilities (n, classes), or values (n, 1), for the rows."""
    classes = predictor.run.labels
    frame = predictor.frame(rows.frame(), proba=classes is not None, label="the rows checked")
    if classes is None:
        return frame["prediction"].to_numpy(np.float64).reshape(-1, 1)
    return frame[[f"p_{c}" for c in classes]].to_numpy(np.float64)


def _compared(run: SavedRun, outputs: np.ndarray) -> np.ndarray:
    """An artefact's raw outputs as ``_expected``'s figures: probabilities, or values."""
    if run.labels is None:
        return outputs.reshape(len(outputs), -1)[:, :1].astype(np.float64)
    from dlcli.model.head import probabilities

    return probabilities(outputs, run.config.output.activation)


def _check(fmt: str, run: SavedRun, work: Path, place: Path, rows: CheckRows, expected: np.ndarray,
           described: dict) -> dict:  # fmt: skip
    """Predict the rows with the artefact in a fresh process; the record for export.json, or ExportError."""
    artefact = work if fmt == "savedmodel" else work / formats.FILES[fmt]
    arrays = work.with_name(work.name + "-rows.npz")
    outputs = work.with_name(work.name + "-outputs.npz")
    try:
        with writing(arrays.parent):
            np.savez(arrays, **rows.inputs(run.inputs))
        command = [sys.executable, "-m", "dlcli.export.check", fmt, str(artefact), str(arrays), str(outputs)]
        command += [str(b) for b in BATCHES]
        if described.get("preprocessing"):
            command += ["--preprocessing", str(work / described["preprocessing"])]
        done = subprocess.run(command, capture_output=True, text=True, env=_environment())
        if done.returncode == MISSING_RUNTIME:
            missing = done.stderr.strip().splitlines()[-1]
            raise MissingExtra(f"checking a {fmt} export needs {missing}, which does not import: {EXTRA}")
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no message"])[-1]
            raise ExportError(f"the {fmt} export did not load or predict in a fresh process: {last}")
        runtime = json.loads(done.stdout.strip().splitlines()[-1])
        with np.load(outputs) as got:
            found = {size: _compared(run, got[f"batch_{size}"]) for size in BATCHES}
    finally:
        arrays.unlink(missing_ok=True)
        outputs.unlink(missing_ok=True)
    differences = {size: _differences(values, expected) for size, values in found.items()}
    record = _record(fmt, run, work, place, rows, described, runtime, differences)
    if not record["check"]["passed"]:
        sizes = ", ".join(f"batch {b}: {d[0]:.3g}" for b, d in differences.items())
        raise ExportError(
            f"the {fmt} export does not predict as the run does: max |difference| from dlcli predict {sizes} "
            f"on {len(rows)} rows, tolerance {TOLERANCE[fmt]:g}{' x max(1, |value|)' if run.labels is None else ''}; "
            "nothing was kept"
        )
    return record


def _differences(got: np.ndarray, expected: np.ndarray) -> tuple[float, float]:
    """(max |got - expected|, max |got - expected| / max(1, |expected|)); NaN when the shapes differ."""
    if got.shape != expected.shape:
        return float("nan"), float("nan")
    if not len(got):
        return 0.0, 0.0
    gap = np.abs(got - expected)
    return float(gap.max()), float((gap / np.maximum(1.0, np.abs(expected))).max())


def _record(fmt, run, work, place, rows, described, runtime, differences) -> dict:
    """What export.json says; its paths are relative to its own directory."""
    worst = max(d[0] for d in differences.values())
    # Probabilities are compared absolutely; values relative to their size above 1, where float32's own spacing
    # (1.5e-5 at 150) is already larger than the tolerance.
    judged = max(d[0] if run.labels else d[1] for d in differences.values())
    artefact = _artefact(fmt, place)
    prefix = f"{artefact['path']}/" if fmt == "savedmodel" else ""  # export.json sits above the version directory
    files = sorted(p for p in work.rglob("*") if p.is_file() and p.name != EXPORT_JSON)
    return {
        "format": fmt,
        "run": str(run.path.resolve()),
        "created_at": store.now(),
        "artefact": artefact,
        "files": {f"{prefix}{p.relative_to(work)}": {"sha256": _sha256(p), "bytes": p.stat().st_size} for p in files},
        "model": described,
        "signature": runtime["signature"],
        "output": _output(run),
        "versions": _versions(fmt, work, runtime),
        "check": {
            "passed": bool(judged <= TOLERANCE[fmt]),  # NaN fails
            "runtime": f"{runtime['runtime']} {runtime['version']}",
            "fresh_process": True,
            "compared_with": "dlcli predict --proba (probabilities)" if run.labels else "dlcli predict (values)",
            "rows": len(rows),
            "rows_from": rows.source,
            "row_counts": rows.counts,
            "hole_cells": rows.holes(),
            "batch_sizes": list(BATCHES),
            "max_abs_difference": {str(b): d[0] for b, d in differences.items()},
            "max_abs_difference_overall": worst,
            **({} if run.labels else {"max_relative_difference": max(d[1] for d in differences.values())}),
            "tolerance": TOLERANCE[fmt],
            "rule": "max |difference| <= tolerance"
            if run.labels
            else "relative: |difference| <= tolerance x max(1, |value|)",
        },
    }


def _artefact(fmt: str, place: Path) -> dict:
    """Where the artefact is, relative to export.json's directory."""
    if fmt == "savedmodel":
        return {"path": f"{place.parent.name}/{place.name}", "model_name": place.parent.name,
                "version": int(place.name), "signature": "serving_default"}  # fmt: skip
    return {"path": formats.FILES[fmt]}


def _output(run: SavedRun) -> dict:
    """What the model's output means."""
    activation = run.config.output.activation
    if run.labels is None:
        return {"activation": activation, "meaning": "the predicted value (regression)"}
    units = run.config.output.units
    if units == 1:
        meaning = f"P({run.labels[1]!r}), one unit" if activation == "sigmoid" else "a logit of the second class"
    else:
        meaning = "class probabilities" if activation == "softmax" else "class scores (logits): softmax them"
    return {"activation": activation, "labels": run.labels, "meaning": meaning}


def _versions(fmt: str, work: Path, runtime: dict) -> dict:
    import keras
    import tensorflow as tf

    versions = {"dlcli": __version__, "python": platform.python_version(), "tensorflow": tf.__version__,
                "keras": keras.__version__, "numpy": np.__version__, "check_runtime": runtime["version"]}  # fmt: skip
    if fmt == "onnx":
        import onnx
        import tf2onnx

        model = onnx.load(str(work / formats.FILES[fmt]))
        versions.update(tf2onnx=tf2onnx.__version__, onnx=onnx.__version__)
        versions["opset"] = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    return versions


def _environment() -> dict:
    """The check's environment: this dlcli importable, GPUs hidden (the comparison is on the CPU), TF quiet."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    env["CUDA_VISIBLE_DEVICES"] = "-1"
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env


def _into_place(work: Path, place: Path) -> None:
    """Rename the checked artefact into place; a previous export there is replaced only after that succeeds."""
    old = place.with_name(f".{place.name}.old-{os.getpid()}")
    if place.exists():
        place.rename(old)
    work.rename(place)
    shutil.rmtree(old, ignore_errors=True)


def _write_json(path: Path, record: dict) -> None:
    store.atomic_write_text(path, json.dumps(record, indent=2) + "\n", durable=False)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def _quiet():
    """Converters' chatter (tf2onnx's shape warnings, TensorFlow's serialization notes) kept off the terminal."""
    import logging
    import warnings

    loggers = [logging.getLogger(name) for name in ("tf2onnx", "tensorflow", "absl")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
