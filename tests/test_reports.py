"""Reports of a run: per-class scores, confusion matrix, plots, `dlcli report`, `dlcli runs`, `predict --proba`."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import CONFIGS, invoke, train_json

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# -- fixtures: one trained run per task, shared by the module ----------------------------------


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory) -> Path:
    """Holds the iris and the diabetes run (and nothing else), for `dlcli runs`."""
    return tmp_path_factory.mktemp("runs")


@pytest.fixture(scope="module")
def iris_run(runs_dir):
    return train_json(runs_dir, CONFIGS / "iris.yaml", "training.epochs=3")


@pytest.fixture(scope="module")
def diabetes_run(runs_dir):
    return train_json(runs_dir, CONFIGS / "diabetes.yaml", "training.epochs=2")


@pytest.fixture(scope="module")
def binary_run(tmp_path_factory):
    return train_json(tmp_path_factory.mktemp("binary"), CONFIGS / "breast_cancer.yaml", "training.epochs=2")


@pytest.fixture(scope="module")
def logits_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("logits")
    config = root / "iris_logits.yaml"
    config.write_text(
        (CONFIGS / "iris.yaml")
        .read_text()
        .replace("loss: auto", "loss: {name: sparse_categorical_crossentropy, from_logits: true}")
    )
    assert "from_logits: true" in config.read_text()
    return train_json(root / "out", config, "training.epochs=2")


def _labels(run: Path) -> list[str]:
    return json.loads((run / "labels.json").read_text())


def _metrics(run: Path) -> dict:
    return json.loads((run / "metrics.json").read_text())


def _assert_png(path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.image as mpimg

    assert path.is_file(), path
    data = path.read_bytes()
    assert len(data) > 0 and data[:8] == PNG_SIGNATURE, path
    image = mpimg.imread(path)
    assert image.ndim == 3 and image.shape[0] > 0 and image.shape[1] > 0


def _copy_run(run: Path, tmp_path: Path) -> Path:
    copy = tmp_path / run.name
    shutil.copytree(run, copy)
    return copy


def _read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    rows = list(csv.reader(io.StringIO(path.read_text())))
    return rows[0], rows[1:]


def _predict_proba(run: Path, x: np.ndarray, tmp_path: Path) -> tuple[list[str], list[str], np.ndarray]:
    np.savez(tmp_path / "x.npz", x=x)
    out = tmp_path / "p.csv"
    result = invoke("predict", run, tmp_path / "x.npz", "-o", out, "--proba")
    assert result.exit_code == 0, result.output
    header, rows = _read_csv(out)
    assert len(rows) == len(x)
    return header, [r[0] for r in rows], np.array([[float(v) for v in r[1:]] for r in rows])


def _test_split(run: Path):
    from dlcli.config.load import load_config
    from dlcli.data import load as data

    dataset = data.load(load_config(run / "config.yaml"))
    return dataset.x_test, dataset.y_test


# -- 1. report.classification against scikit-learn --------------------------------------------


def test_a_class_neither_present_nor_predicted_is_reported_but_not_averaged():
    """An output unit for a label absent from the data: its row, column and entry stay; macro averages skip it."""
    from sklearn.metrics import precision_recall_fscore_support

    from dlcli.report import classification

    y_true = np.array([0, 0, 1, 1, 2, 2, 2])
    y_pred = np.array([0, 1, 1, 1, 2, 2, 0])
    got = classification(y_true, y_pred, ["0", "1", "2", "3"])
    mp, mr, mf, _ = precision_recall_fscore_support(y_true, y_pred, average="macro", zero_division=0)
    assert (got["macro_precision"], got["macro_recall"], got["macro_f1"]) == pytest.approx((mp, mr, mf))
    assert got["per_class"]["3"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert np.array(got["confusion_matrix"]["matrix"]).shape == (4, 4)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_classification_matches_sklearn(seed):
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    from dlcli.report import classification

    rng = np.random.default_rng(seed)
    k = 5
    classes = [f"c{i}" for i in range(k)]
    y_true = rng.integers(0, k - 1, size=200)  # class 4 never in the truth
    y_pred = rng.integers(0, k, size=200)
    y_pred[y_pred == 2] = 3  # class 2 never predicted
    assert 4 not in y_true and 2 not in y_pred and 4 in y_pred and 2 in y_true

    got = classification(y_true, y_pred, classes)
    labels = list(range(k))
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    for i, name in enumerate(classes):
        entry = got["per_class"][name]
        assert entry["precision"] == pytest.approx(p[i])
        assert entry["recall"] == pytest.approx(r[i])
        assert entry["f1"] == pytest.approx(f[i])
        assert entry["support"] == s[i]
    mp, mr, mf, _ = precision_recall_fscore_support(y_true, y_pred, labels=labels, average="macro", zero_division=0)
    assert got["macro_precision"] == pytest.approx(mp)
    assert got["macro_recall"] == pytest.approx(mr)
    assert got["macro_f1"] == pytest.approx(mf)
    cm = got["confusion_matrix"]
    assert cm["labels"] == classes and cm["rows"] == "true class" and cm["columns"] == "predicted class"
    assert cm["matrix"] == confusion_matrix(y_true, y_pred, labels=labels).tolist()
    assert got["per_class"]["c2"]["precision"] == 0.0 and got["per_class"]["c4"]["recall"] == 0.0


def test_confusion_matrix_orientation():
    from dlcli.report import classification

    got = classification([0, 0, 0, 1], [1, 1, 0, 1], ["a", "b"])
    assert got["confusion_matrix"]["matrix"] == [[1, 2], [0, 1]]  # row = true, column = predicted
    assert got["per_class"]["a"] == {"precision": 1.0, "recall": pytest.approx(1 / 3), "f1": 0.5, "support": 3}


# -- 2. metrics.json and plots of a trained run ----------------------------------------------


def test_classification_run_metrics_and_plots(iris_run):
    run, metrics = iris_run
    assert _metrics(run) == metrics
    labels = _labels(run)
    assert set(metrics["per_class"]) == set(labels)
    for name in labels:
        assert set(metrics["per_class"][name]) == {"precision", "recall", "f1", "support"}
    cm = metrics["confusion_matrix"]
    assert cm["labels"] == labels
    matrix = np.array(cm["matrix"])
    x_test, y_test = _test_split(run)
    assert matrix.shape == (len(labels), len(labels))
    assert matrix.sum() == len(y_test) == 30
    assert matrix.sum(axis=1).tolist() == [metrics["per_class"][n]["support"] for n in labels]
    assert np.trace(matrix) / matrix.sum() == pytest.approx(metrics["accuracy"], abs=1e-9)
    for key in ("macro_precision", "macro_recall", "macro_f1"):
        assert 0.0 <= metrics[key] <= 1.0
    assert sorted(p.name for p in (run / "plots").iterdir()) == ["confusion_matrix.png", "learning_curves.png"]
    _assert_png(run / "plots" / "learning_curves.png")
    _assert_png(run / "plots" / "confusion_matrix.png")


def test_regression_run_metrics_and_plots(diabetes_run):
    run, metrics = diabetes_run
    assert {"loss", "mae", "rmse", "r2"} <= set(metrics)
    assert not {"per_class", "confusion_matrix", "accuracy", "macro_f1"} & set(metrics)
    assert [p.name for p in (run / "plots").iterdir()] == ["learning_curves.png"]
    _assert_png(run / "plots" / "learning_curves.png")


def test_no_plots_and_text_table_prints_only_scalars(tmp_path):
    result = invoke(
        "train", CONFIGS / "iris.yaml", "--set", "training.epochs=1", "--set", "training.plots=false",
        "--output-dir", tmp_path,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    run = Path(result.stdout.strip().splitlines()[-1])
    assert run.is_dir() and not (run / "plots").exists()
    table = result.stdout.split("test metrics:", 1)[1].strip().splitlines()[:-1]
    names = [line.split()[0] for line in table]
    assert "accuracy" in names and "macro_f1" in names
    assert not {"per_class", "confusion_matrix"} & set(names)
    assert "per_class" not in result.stdout and "confusion_matrix" not in result.stdout
    assert "per_class" in _metrics(run)  # still saved, only not printed


def test_format_table_and_scalars():
    from dlcli.scoring import format_table, scalars

    metrics = {"loss": 0.5, "accuracy": 0.75, "per_class": {"a": {}}, "confusion_matrix": {"matrix": []}}
    assert scalars(metrics) == {"loss": 0.5, "accuracy": 0.75}
    assert format_table(metrics).splitlines() == ["loss      0.5", "accuracy  0.75"]


# -- 3. dlcli report --------------------------------------------------------------------------


def test_report_regenerates_deleted_plots(iris_run, tmp_path):
    run = _copy_run(iris_run[0], tmp_path)
    shutil.rmtree(run / "plots")
    result = invoke("report", run)
    assert result.exit_code == 0, result.output
    printed = result.stdout.splitlines()
    assert printed == [str(run / "plots" / "learning_curves.png"), str(run / "plots" / "confusion_matrix.png")]
    for line in printed:
        _assert_png(Path(line))


def test_report_refuses_incomplete_run(iris_run, tmp_path):
    run = _copy_run(iris_run[0], tmp_path)
    state = json.loads((run / "run.json").read_text())
    state["status"] = "interrupted"
    (run / "run.json").write_text(json.dumps(state))
    shutil.rmtree(run / "plots")
    result = invoke("report", run)
    assert result.exit_code == 2
    assert "interrupted" in result.stderr and "not complete" in result.stderr
    assert not (run / "plots").exists()


def test_report_missing_dir(tmp_path):
    result = invoke("report", tmp_path / "nope")
    assert result.exit_code == 2
    assert "no such run directory" in result.stderr


# -- 4. dlcli runs ----------------------------------------------------------------------------


def test_runs_table_and_json(iris_run, diabetes_run, runs_dir):
    iris, iris_metrics = iris_run
    diabetes, diabetes_metrics = diabetes_run
    result = invoke("runs", runs_dir)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["run", "started", "status", "epochs", "test", "metric"]
    by_run = {line.split()[0]: line for line in lines[1:]}
    assert set(by_run) == {iris.name, diabetes.name}
    assert "complete" in by_run[iris.name] and "3/3" in by_run[iris.name]
    assert f"accuracy {iris_metrics['accuracy']:.4f}" in by_run[iris.name]
    assert "complete" in by_run[diabetes.name] and "2/2" in by_run[diabetes.name]
    assert f"r2 {diabetes_metrics['r2']:.4f}" in by_run[diabetes.name]

    result = invoke("runs", runs_dir, "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert isinstance(rows, list) and len(rows) == 2
    for row in rows:
        assert {"run", "status", "epochs_done", "epochs_planned", "metric", "value"} <= set(row)
    got = {r["run"]: r for r in rows}
    assert got[iris.name]["metric"] == "accuracy"
    assert got[iris.name]["value"] == pytest.approx(iris_metrics["accuracy"])
    assert (got[iris.name]["status"], got[iris.name]["epochs_done"], got[iris.name]["epochs_planned"]) == (
        "complete", 3, 3,
    )  # fmt: skip
    assert got[diabetes.name]["metric"] == "r2"
    assert got[diabetes.name]["value"] == pytest.approx(diabetes_metrics["r2"])


def test_runs_damaged_run_json(iris_run, tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    good = _copy_run(iris_run[0], root)
    bad = root / "broken-run"
    bad.mkdir()
    (bad / "run.json").write_text("{not json")
    result = invoke("runs", root)
    assert result.exit_code == 0, result.output
    by_run = {line.split()[0]: line for line in result.stdout.splitlines()[1:]}
    assert set(by_run) == {good.name, "broken-run"}
    assert by_run["broken-run"].split()[1] == "damaged"
    result = invoke("runs", root, "--json")
    assert result.exit_code == 0, result.output
    got = {r["run"]: r for r in json.loads(result.stdout)}
    assert got["broken-run"]["status"] == "damaged" and got[good.name]["status"] == "complete"


@pytest.mark.parametrize(
    ("run_json", "metrics_json"),
    [("[]", None), ("null", None), ('{"status": "complete"}', "[1]")],
)
def test_runs_json_that_is_not_an_object_is_damaged(tmp_path, run_json, metrics_json):
    bad = tmp_path / "odd-run"
    bad.mkdir()
    (bad / "run.json").write_text(run_json)
    if metrics_json is not None:
        (bad / "metrics.json").write_text(metrics_json)
    result = invoke("runs", tmp_path, "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)[0]["status"] == "damaged"


def test_report_run_json_not_an_object(iris_run, tmp_path):
    run = _copy_run(iris_run[0], tmp_path)
    (run / "run.json").write_text("[]")
    result = invoke("report", run)
    assert result.exit_code == 2, result.stderr


def test_runs_empty_and_missing_dir(tmp_path):
    result = invoke("runs", tmp_path)
    assert result.exit_code == 0
    assert result.stdout == ""
    assert "no runs yet" in result.stderr
    result = invoke("runs", tmp_path / "missing")
    assert result.exit_code == 2
    assert "no such directory" in result.stderr


# -- 5. predict --proba -----------------------------------------------------------------------


def test_proba_multiclass(iris_run, tmp_path):
    run = iris_run[0]
    labels = _labels(run)
    x_test, _ = _test_split(run)
    header, predictions, probs = _predict_proba(run, x_test, tmp_path)
    assert header == ["prediction", *(f"p_{c}" for c in labels)]
    assert probs.shape == (len(x_test), len(labels))
    assert np.all((probs >= 0) & (probs <= 1))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-4)
    assert [labels[i] for i in probs.argmax(axis=1)] == predictions


def test_proba_binary_sigmoid(binary_run, tmp_path):
    run = binary_run[0]
    labels = _labels(run)
    assert len(labels) == 2
    x_test, _ = _test_split(run)
    header, predictions, probs = _predict_proba(run, x_test, tmp_path)
    assert header == ["prediction", f"p_{labels[0]}", f"p_{labels[1]}"]
    assert probs.shape == (len(x_test), 2)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-4)
    assert [labels[i] for i in probs.argmax(axis=1)] == predictions


def test_proba_from_logits_is_softmax(logits_run, tmp_path):
    run = logits_run[0]
    from dlcli.config.load import load_config

    assert load_config(run / "config.yaml").model.output.activation == "linear"
    labels = _labels(run)
    x_test, _ = _test_split(run)
    header, predictions, probs = _predict_proba(run, x_test, tmp_path)
    assert header == ["prediction", *(f"p_{c}" for c in labels)]
    assert np.all((probs >= 0) & (probs <= 1))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-4)
    assert [labels[i] for i in probs.argmax(axis=1)] == predictions


def test_proba_on_regression_is_refused(diabetes_run, tmp_path):
    np.savez(tmp_path / "x.npz", x=np.zeros((3, 10), dtype=np.float32))
    result = invoke("predict", diabetes_run[0], tmp_path / "x.npz", "--proba")
    assert result.exit_code == 2
    assert "regression" in result.stderr
    assert result.stdout == ""


def test_probabilities_unit():
    from scipy.special import expit, softmax

    from dlcli.model.head import probabilities

    logits = np.array([[-2.0], [0.0], [3.0]])
    for activation in ("linear", "tanh"):
        got = probabilities(logits, activation)
        np.testing.assert_allclose(got[:, 1], expit(logits[:, 0]))
        np.testing.assert_allclose(got.sum(axis=1), 1.0)
    sig = np.array([[0.1], [0.5], [0.9]])
    np.testing.assert_allclose(probabilities(sig, "sigmoid"), [[0.9, 0.1], [0.5, 0.5], [0.1, 0.9]])
    many = np.array([[1.0, 2.0, 3.0], [1000.0, 0.0, -1000.0]])
    got = probabilities(many, "linear")
    np.testing.assert_allclose(got, softmax(many, axis=1))
    assert np.isfinite(got).all()
    soft = softmax(np.array([[0.2, 0.3, 0.5]]), axis=1)
    np.testing.assert_allclose(probabilities(soft, "softmax"), soft)


# -- 6. predict on the run's own test rows reproduces the saved accuracy ----------------------


@pytest.mark.parametrize("which", ["iris_run", "binary_run", "logits_run"])
def test_predict_accuracy_matches_metrics(which, request, tmp_path):
    run, metrics = request.getfixturevalue(which)
    labels = _labels(run)
    x_test, y_test = _test_split(run)
    np.savez(tmp_path / "x.npz", x=x_test)
    out = tmp_path / "p.csv"
    result = invoke("predict", run, tmp_path / "x.npz", "-o", out)
    assert result.exit_code == 0, result.output
    header, rows = _read_csv(out)
    assert header == ["prediction"]
    index = {name: i for i, name in enumerate(labels)}
    predicted = np.array([index[r[0]] for r in rows])
    assert np.mean(predicted == np.asarray(y_test).reshape(-1)) == pytest.approx(metrics["accuracy"], abs=1e-9)


@pytest.mark.parametrize("labels", [["no", "yes"], [str(i) for i in range(10)], [f"class-{i}" for i in range(3)]])
def test_the_confusion_matrix_title_fits_the_figure(labels):
    """A long run name over a 2-class matrix (the smallest figure) stays inside it, whole."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from dlcli.report import _confusion

    k = len(labels)
    matrix = {"labels": labels, "matrix": np.eye(k, dtype=int).tolist()}
    figure = _confusion(plt, matrix, "customer-churn-weighted-20261128-183407")
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    title = figure.axes[0].title
    box, frame = title.get_window_extent(renderer), figure.bbox
    assert box.x0 >= frame.x0 and box.x1 <= frame.x1 and box.y1 <= frame.y1, (box, frame)
    assert "customer-churn-weighted-20261128-183407" in title.get_text()
    plt.close(figure)
