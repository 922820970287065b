"""dlcli export: each format written, reloaded by its own runtime in a fresh process and compared with predict."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import CONFIGS, invoke, train_json

pytestmark = pytest.mark.slow  # multi-process: each export is checked in a fresh process with its own runtime

CITIES = ["paris", "lyon", "nice", "lille"]
PLANS = ["basic", "plus", "pro"]


def mixed_csv(path: Path, n: int = 240) -> Path:
    """Numeric and categorical columns, each with holes; ``zone`` holds numbers read as categories."""
    rng = np.random.default_rng(0)
    lines = ["age,income,city,plan,zone,churn"]
    for i in range(n):
        age, income = int(rng.integers(18, 80)), rng.normal(50, 15)
        city, plan, zone = CITIES[i % 4], PLANS[int(rng.integers(3))], int(rng.integers(1, 4))
        churn = "yes" if (age < 40) + (plan == "basic") + (city == "nice") >= 2 else "no"
        cells = [str(age), f"{income:.2f}", city, plan, str(zone)]
        if i % 7 == 3:
            cells[i % 5] = ""  # a hole, in each column in turn
        lines.append(",".join(cells + [churn]))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def mixed_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("mixed")
    mixed_csv(root / "t.csv")
    (root / "c.yaml").write_text(
        "name: mixed\nseed: 0\n"
        "data: {path: t.csv, target: churn, missing: mean, categorical: [zone], embedding: {city: 2}}\n"
        "model: {layers: [{units: 8, activation: relu}]}\ntraining: {epochs: 3}\n"
    )
    return train_json(root / "runs", root / "c.yaml")[0]


def export(run, fmt, out, *more):
    result = invoke("export", run, "--format", fmt, "-o", out, *more)
    record = json.loads((Path(out) / "export.json").read_text()) if result.exit_code == 0 else None
    return result, record


def assert_checked(record: dict, out: Path, tolerance: float) -> None:
    check = record["check"]
    assert check["passed"] and check["tolerance"] == tolerance and check["batch_sizes"] == [1, 7]
    assert set(check["max_abs_difference"]) == {"1", "7"}
    assert max(check["max_abs_difference"].values()) == check["max_abs_difference_overall"] <= tolerance
    assert check["row_counts"]["test split"] == 48 and check["rows"] == sum(check["row_counts"].values())
    assert check["hole_cells"] > 10  # the test split's own holes and the edge rows'
    for name, facts in record["files"].items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == facts["sha256"], name


SERVE = """
import json, sys
import numpy as np, tensorflow as tf
serve = tf.saved_model.load(sys.argv[1]).signatures["serving_default"]
rows = {
    "age": tf.constant([[30.0], [np.nan], [61.0]]),
    "income": tf.constant([[np.nan], [55.5], [40.0]]),
    "city": tf.constant([["nice"], [""], ["  lyon "]]),
    "plan": tf.constant([["basic"], ["pro"], ["NA"]]),
    "zone": tf.constant([["2.0"], ["1"], ["9"]]),
}
(out,) = serve(**rows).values()
print(json.dumps({"p": out.numpy().ravel().tolist(), "dlcli": "dlcli" in sys.modules}))
"""
SAME_ROWS = {
    "age": [30.0, None, 61.0],
    "income": [None, 55.5, 40.0],
    "city": ["nice", "", "  lyon "],
    "plan": ["basic", "pro", "NA"],
    "zone": ["2.0", "1", "9"],
}


def test_savedmodel_is_laid_out_for_tf_serving_and_serves_raw_columns(mixed_run, tmp_path):
    out = tmp_path / "serving"
    result, record = export(mixed_run, "savedmodel", out)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(out / "mixed" / "1")
    assert (out / "mixed" / "1" / "saved_model.pb").is_file() and (out / "mixed" / "1" / "variables").is_dir()
    assert record["artefact"] == {
        "path": "mixed/1",
        "model_name": "mixed",
        "version": 1,
        "signature": "serving_default",
    }
    assert_checked(record, out, 1e-5)
    inputs = {i["name"]: i["dtype"] for i in record["signature"]["inputs"]}
    assert inputs == {"age": "float32", "income": "float32", "city": "string", "plan": "string", "zone": "string"}
    assert record["versions"]["tensorflow"] and record["output"]["labels"] == ["no", "yes"]

    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-c", SERVE, str(out / "mixed" / "1")], capture_output=True, text=True,
                          env=env, cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    served = json.loads(done.stdout.strip().splitlines()[-1])
    assert served["dlcli"] is False
    import dlcli

    expected = dlcli.load(mixed_run).predict(pd.DataFrame(SAME_ROWS), proba=True)["p_yes"].to_numpy()
    assert np.abs(np.array(served["p"]) - expected).max() <= 1e-5


def test_the_next_savedmodel_export_is_the_next_version(mixed_run, tmp_path):
    from dlcli.export.exporter import _place
    from dlcli.runs.saved import open_run

    (tmp_path / "mixed" / "1").mkdir(parents=True)
    (tmp_path / "mixed" / ".2.tmp-1").mkdir()  # an unfinished export is no version
    assert _place("savedmodel", open_run(mixed_run), tmp_path) == tmp_path / "mixed" / "2"


def test_onnx_exports_the_numeric_core_with_preprocessing_json(mixed_run, tmp_path):
    out = tmp_path / "onnx"
    result, record = export(mixed_run, "onnx", out)
    assert result.exit_code == 0, result.output
    assert "preprocessing.json" in result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["export.json", "model.onnx", "preprocessing.json"]
    assert_checked(record, out, 1e-5)
    assert record["model"]["preprocessing"] == "preprocessing.json" and "string" in record["model"]["why"]
    assert record["versions"]["opset"] >= 13 and record["versions"]["tf2onnx"]
    inputs = {i["name"]: i["dtype"] for i in record["signature"]["inputs"]}
    assert inputs == {"age": "float32", "income": "float32", "city": "int32", "plan": "int32", "zone": "int32"}

    import onnxruntime

    from dlcli.export.reference import model_inputs

    spec = json.loads((out / "preprocessing.json").read_text())
    assert spec["inputs"][2]["vocabulary"] == ["(missing)", "lille", "lyon", "nice", "paris"]
    assert spec["inside_model"]["fill"] and spec["inside_model"]["normalization"]["mean"]
    session = onnxruntime.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    (p,) = session.run(None, model_inputs(spec, SAME_ROWS))
    import dlcli

    expected = dlcli.load(mixed_run).predict(pd.DataFrame(SAME_ROWS), proba=True)["p_yes"].to_numpy()
    assert np.abs(p.ravel() - expected).max() <= 1e-5


def test_an_export_replaces_its_own_kind_only(mixed_run, tmp_path):
    out = tmp_path / "onnx"
    assert export(mixed_run, "onnx", out)[0].exit_code == 0
    result, record = export(mixed_run, "onnx", out)  # the previous export is replaced once the new one passed
    assert result.exit_code == 0 and record["check"]["passed"]
    result, _ = export(mixed_run, "litert", out)
    assert result.exit_code == 2 and "not a dlcli litert export" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["onnx"]


def test_litert_runs_on_the_litert_runtime(mixed_run, tmp_path):
    out = tmp_path / "litert"
    result, record = export(mixed_run, "litert", out)
    assert result.exit_code == 0, result.output
    assert (out / "model.tflite").is_file() and (out / "preprocessing.json").is_file()
    assert_checked(record, out, 1e-4)
    assert record["check"]["runtime"].startswith("ai-edge-litert")
    assert {i["dtype"] for i in record["signature"]["inputs"]} == {"float32", "int32"}


def test_a_failed_check_exits_1_and_keeps_nothing(mixed_run, tmp_path, monkeypatch):
    from dlcli.export import formats
    from dlcli.model.columns import trained_part

    real = formats.write

    def tampered(fmt, model, schema, target):  # a silently different model: the output's bias moved
        bias = trained_part(model).get_layer("output").bias
        bias.assign(bias + 0.5)
        return real(fmt, model, schema, target)

    monkeypatch.setattr(formats, "write", tampered)
    for fmt in ("onnx", "savedmodel"):
        out = tmp_path / fmt
        result, _ = export(mixed_run, fmt, out)
        assert result.exit_code == 1, result.output
        assert "does not predict as the run does" in result.stderr and "nothing was kept" in result.stderr
        assert not out.exists()
    assert list(tmp_path.iterdir()) == []  # no hidden work directory or rows file left either


def test_a_missing_runtime_exits_2_naming_the_extra(mixed_run, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if not installed
    result, _ = export(mixed_run, "onnx", tmp_path / "onnx")
    assert result.exit_code == 2
    assert "onnxruntime" in result.stderr and "pip install 'dlcli[export]'" in result.stderr


def test_a_runtime_missing_in_the_check_process_exits_2(mixed_run, tmp_path, monkeypatch):
    shim = tmp_path / "shim" / "ai_edge_litert"
    shim.mkdir(parents=True)
    (shim / "__init__.py").write_text("raise ImportError('no LiteRT here')\n")
    monkeypatch.setenv("PYTHONPATH", str(shim.parent))
    result, _ = export(mixed_run, "litert", tmp_path / "litert")
    assert result.exit_code == 2, result.output
    assert "ai_edge_litert" in result.stderr and "dlcli[export]" in result.stderr
    assert not (tmp_path / "litert").exists()


def test_without_the_data_files_the_check_uses_data_or_the_schema(mixed_run, tmp_path):
    data = Path(json.loads((mixed_run / "environment.json").read_text())["data"]["files"].popitem()[0])
    moved = tmp_path / "elsewhere.csv"
    data.rename(moved)
    try:
        result, record = export(mixed_run, "onnx", tmp_path / "schema")
        assert result.exit_code == 0, result.output
        assert "schema" in record["check"]["rows_from"] and record["check"]["row_counts"]["synthesised"] == 64
        result, record = export(mixed_run, "onnx", tmp_path / "file", "--data", moved)
        assert result.exit_code == 0, result.output
        assert record["check"]["rows_from"] == str(moved) and record["check"]["row_counts"][str(moved)] == 240
    finally:
        moved.rename(data)


def test_an_array_run_exports_its_one_input(tmp_path, mnist_npz):
    run, _ = train_json(tmp_path / "runs", CONFIGS / "mnist.yaml", f"data.path={mnist_npz}", "training.epochs=1")
    result, record = export(run, "onnx", tmp_path / "onnx")
    assert result.exit_code == 0, result.output
    assert record["signature"]["inputs"] == [{"name": "features", "dtype": "float32", "shape": [None, 28, 28]}]
    assert record["model"] == {"takes": "the feature array"} and record["check"]["rows"] == 200
    assert record["output"]["meaning"].startswith("class scores (logits)")


def test_the_reference_reader_reads_categories_as_dlcli_does():
    from dlcli.data import cells
    from dlcli.export.reference import category

    rules = {"missing": list(cells.MISSING_TEXT), "missing_as": cells.MISSING_CATEGORY, "number": cells.NUMBER}
    raw = ["a", " a ", "", "NA", None, float("nan"), "3.0", "3", " 3.00 ", "2.5", "2.50", "7", "x y"]
    values, names = cells.number_categories(["3", "2.5", "a"])
    ours = [category(cell, rules, values, names) for cell in raw]
    assert ours == ["a", "a", "(missing)", "(missing)", "(missing)", "(missing)", "3", "3", "3", "2.5", "2.5", "7",
                    "x y"]  # fmt: skip
    assert ours == list(cells.categories(pd.Series(raw, dtype=object)))


def test_the_check_process_imports_no_tensorflow():
    code = "import sys, dlcli.export.check, dlcli.export.reference; print('tensorflow' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=CONFIGS.parent)
    assert done.stdout.strip() == "False", done.stderr


def test_the_reference_reader_refuses_what_predict_refuses():
    from dlcli.data import cells
    from dlcli.export.reference import model_inputs

    rules = {"missing": list(cells.MISSING_TEXT), "missing_as": cells.MISSING_CATEGORY, "number": cells.NUMBER,
             "booleans": {"true": 1.0, "false": 0.0}}  # fmt: skip
    spec = {"holes": True, "unseen": "oov", "cells": rules, "inputs": [
        {"name": "n", "column": "n x", "kind": "number"},
        {"name": "c", "column": "c", "kind": "category", "vocabulary": ["a", "b"], "unknown_index": 0,
         "number_values": [], "number_names": []},
    ]}  # fmt: skip
    got = model_inputs(spec, {"n x": [1.5, None, "true", " NA "], "c": ["b", "", "z", None]})
    assert np.array_equal(got["n"].ravel(), np.array([1.5, np.nan, 1.0, np.nan], np.float32), equal_nan=True)
    assert got["c"].ravel().tolist() == [2, 0, 0, 0] and got["c"].dtype == np.int32 and got["c"].shape == (4, 1)
    with pytest.raises(ValueError, match="column 'n x', row 1: a hole, and the run has no fill"):
        model_inputs({**spec, "holes": False}, {"n x": [1.0, None], "c": ["a", "b"]})
    with pytest.raises(ValueError, match="column 'c', row 0: a category not seen in training"):
        model_inputs({**spec, "unseen": "error"}, {"n x": [1.0], "c": ["z"]})
