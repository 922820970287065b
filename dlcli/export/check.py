"""Load an exported artefact with its own runtime, in a fresh process, and predict rows at given batch sizes.

    python -m dlcli.export.check FORMAT ARTEFACT ROWS.npz OUT.npz BATCH [BATCH ...] [--preprocessing FILE]

``ROWS.npz`` holds the raw rows keyed by the model's input names (or by
column, read through ``preprocessing.json`` with ``reference.py``). Imports
only numpy and the format's runtime: TensorFlow for ``savedmodel``
(``tf.saved_model.load``), ``ai_edge_litert`` for ``litert``, ``onnxruntime``
for ``onnx``. Writes the outputs per batch size to ``OUT.npz`` and one JSON
line (runtime, version, signature) to stdout. Exit 3 names a runtime that is
not installed.
"""

from __future__ import annotations

import json
import sys

import numpy as np

MISSING_RUNTIME = 3
RUNTIMES = {"savedmodel": "tensorflow", "litert": "ai_edge_litert", "onnx": "onnxruntime"}


def main(argv: list[str]) -> int:
    preprocessing = None
    if "--preprocessing" in argv:
        at = argv.index("--preprocessing")
        preprocessing = argv[at + 1]
        argv = argv[:at] + argv[at + 2 :]
    fmt, artefact, rows_path, out_path, *batches = argv
    try:
        predictor = {"savedmodel": SavedModel, "litert": LiteRT, "onnx": Onnx}[fmt](artefact)
    except ImportError as exc:
        print(f"{RUNTIMES[fmt]} ({exc})", file=sys.stderr)
        return MISSING_RUNTIME
    with np.load(rows_path) as stored:
        rows = {name: stored[name] for name in stored.files}
    if preprocessing is not None:
        from dlcli.export import reference

        with open(preprocessing, encoding="utf-8") as fh:
            spec = json.load(fh)
        by_column = {entry["column"]: rows[entry["name"]].reshape(-1) for entry in spec["inputs"]}
        rows = reference.model_inputs(spec, by_column)
    total = len(next(iter(rows.values())))
    outputs = {}
    for size in map(int, batches):
        parts = [predictor({k: v[i : i + size] for k, v in rows.items()}) for i in range(0, total, size)]
        outputs[f"batch_{size}"] = np.concatenate(parts).reshape(total, -1)
    np.savez(out_path, **outputs)
    print(json.dumps({"runtime": predictor.runtime, "version": predictor.version, "signature": predictor.signature}))
    return 0


class SavedModel:
    """``serving_default`` of a SavedModel, through plain TensorFlow."""

    runtime = "tensorflow (tf.saved_model.load)"

    def __init__(self, path: str):
        import tensorflow as tf

        self.tf = tf
        self.version = tf.__version__
        self.serve = tf.saved_model.load(path).signatures["serving_default"]
        _, specs = self.serve.structured_input_signature
        self.signature = {
            "name": "serving_default",
            "inputs": [_spec(n, s.dtype.name, s.shape.as_list()) for n, s in sorted(specs.items())],
            "outputs": [_spec(n, s.dtype.name, s.shape.as_list()) for n, s in self.serve.structured_outputs.items()],
        }

    def __call__(self, rows: dict) -> np.ndarray:
        (out,) = self.serve(**{k: self.tf.constant(v) for k, v in rows.items()}).values()
        return out.numpy()


class LiteRT:
    """The ``serving_default`` signature runner of the LiteRT interpreter (built-in ops only, no Flex)."""

    runtime = "ai-edge-litert"

    def __init__(self, path: str):
        from importlib.metadata import version

        from ai_edge_litert.interpreter import Interpreter

        self.version = version("ai-edge-litert")
        interpreter = Interpreter(model_path=path)
        (name,) = interpreter.get_signature_list()
        self.run = interpreter.get_signature_runner(name)
        details = self.run.get_input_details(), self.run.get_output_details()
        self.signature = {
            "name": name,
            "inputs": [_spec(n, d["dtype"].__name__, _shape(d)) for n, d in sorted(details[0].items())],
            "outputs": [_spec(n, d["dtype"].__name__, _shape(d)) for n, d in details[1].items()],
        }

    def __call__(self, rows: dict) -> np.ndarray:
        (out,) = self.run(**rows).values()
        return out


class Onnx:
    """An ``onnxruntime`` inference session on the CPU."""

    runtime = "onnxruntime"

    def __init__(self, path: str):
        import onnxruntime

        self.version = onnxruntime.__version__
        self.session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
        types = {"tensor(float)": "float32", "tensor(int32)": "int32", "tensor(int64)": "int64"}
        self.signature = {
            "inputs": [_spec(i.name, types.get(i.type, i.type), _dims(i.shape)) for i in self.session.get_inputs()],
            "outputs": [_spec(o.name, types.get(o.type, o.type), _dims(o.shape)) for o in self.session.get_outputs()],
        }

    def __call__(self, rows: dict) -> np.ndarray:
        (out,) = self.session.run(None, rows)
        return out


def _spec(name: str, dtype: str, shape) -> dict:
    return {"name": name, "dtype": dtype, "shape": shape}


def _shape(detail: dict) -> list:
    """A LiteRT tensor's shape with its batch dimension free (-1 in shape_signature) as None."""
    signature = detail.get("shape_signature", detail["shape"])
    return [None if d < 0 else int(d) for d in signature]


def _dims(shape) -> list:
    return [d if isinstance(d, int) else None for d in shape]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
