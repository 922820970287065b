"""dlcli predict: raw rows in, class names or values out; the input is checked against the training schema."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import CONFIGS, invoke, train_json


@pytest.fixture(scope="module")
def csv_run(tmp_path_factory):
    return train_json(tmp_path_factory.mktemp("runs"), CONFIGS / "iris_csv.yaml", "training.epochs=30")[0]


def test_predict_csv_gives_class_names(csv_run, tmp_path):
    out = tmp_path / "p.csv"
    result = invoke("predict", csv_run, CONFIGS / "data" / "iris.csv", "-o", out)
    assert result.exit_code == 0, result.output
    lines = out.read_text().splitlines()
    assert lines[0] == "prediction" and len(lines) == 151
    assert set(lines[1:]) <= {"setosa", "versicolor", "virginica"}
    truth = [row.split(",")[-1] for row in (CONFIGS / "data" / "iris.csv").read_text().splitlines()[1:]]
    assert np.mean([a == b for a, b in zip(lines[1:], truth, strict=True)]) > 0.8


def test_predict_to_stdout_without_the_target_column(csv_run, tmp_path):
    rows = (CONFIGS / "data" / "iris.csv").read_text().splitlines()
    (tmp_path / "x.csv").write_text("\n".join(",".join(r.split(",")[:4]) for r in rows[:6]) + "\n")
    result = invoke("predict", csv_run, tmp_path / "x.csv")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["prediction"] + ["setosa"] * 5


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("sepal_length,sepal_width,petal_length\n1,2,3\n", "missing column(s) petal_width"),
        ("sepal_length,sepal_width,petal_length,petal_width\n1,2,abc,4\n", "line 2: 'abc' is not a number"),
    ],
)
def test_predict_checks_the_schema(csv_run, tmp_path, text, needle):
    (tmp_path / "x.csv").write_text(text)
    result = invoke("predict", csv_run, tmp_path / "x.csv")
    assert result.exit_code == 2 and needle in result.stderr, result.stderr


def test_predict_npz_regression(tmp_path):
    result = invoke("train", CONFIGS / "diabetes.yaml", "--set", "training.epochs=2", "--output-dir", tmp_path, "-q")
    run = result.stdout.strip()
    np.savez(tmp_path / "x.npz", x=np.zeros((7, 10), dtype=np.float32))
    result = invoke("predict", run, tmp_path / "x.npz")
    assert result.exit_code == 0, result.output
    values = [float(v) for v in result.stdout.splitlines()[1:]]
    assert len(values) == 7 and len(set(values)) == 1
    np.savez(tmp_path / "bad.npz", x=np.zeros((7, 9), dtype=np.float32))
    result = invoke("predict", run, tmp_path / "bad.npz")
    assert result.exit_code == 2 and "the model takes (10,)" in result.stderr


def test_predict_refuses_a_short_row_instead_of_filling_it(csv_run, tmp_path):
    (tmp_path / "x.csv").write_text("sepal_length,sepal_width,petal_length,petal_width\n1,2,3,4\n5,6,7\n")
    result = invoke("predict", csv_run, tmp_path / "x.csv")
    assert result.exit_code == 2
    assert "line 3 has 3 field(s) but the header has 4" in result.stderr
