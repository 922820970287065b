"""`dlcli report RUN --html`: the diagnostics, the curves, the page's sections, and the page in a headless browser."""

from __future__ import annotations

import base64
import math
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from dlcli import diagnostics, report_figures
from tests.conftest import CONFIGS, XOR_RUN, invoke, train_json

pytestmark = pytest.mark.slow  # a browser (chromium) renders the pages, after several runs

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")


# -- diagnostics on synthetic histories ---------------------------------------------------------


def test_still_improving_names_the_monitored_loss():
    found = diagnostics.still_improving({"loss": [1.0, 0.8, 0.6], "val_loss": [1.1, 0.9, 0.7]})
    assert found is not None and found.kind == "still improving"
    assert "val_loss" in found.seen and "epoch (3)" in found.seen and "training.epochs" in found.advice


@pytest.mark.parametrize(
    "history",
    [
        {"loss": [1.0, 0.5, 0.5], "val_loss": [1.0, 0.5, 0.4999]},  # levelled off
        {"loss": [1.0, 0.5, 0.4], "val_loss": [1.0, 0.5, 0.6]},  # best epoch is not the last
        {"loss": [1.0]},  # one epoch says nothing
        {},
    ],
)
def test_not_still_improving(history):
    assert diagnostics.still_improving(history) is None


def test_validation_rising_names_the_best_epoch_and_overfitting():
    history = {"loss": [1.0, 0.7, 0.5, 0.4, 0.3], "val_loss": [1.0, 0.8, 0.85, 0.9, 1.0]}
    found = diagnostics.validation_rising(history)
    assert found is not None and "since epoch 2" in found.seen and "overfitting" in found.seen
    assert "early_stopping" in found.advice


@pytest.mark.parametrize(
    "history",
    [
        {"loss": [1, 0.5, 0.4], "val_loss": [1.0, 0.8, 0.81]},  # within noise
        {"loss": [1, 0.5, 0.4], "val_loss": [1.0, 0.8, 0.7]},  # still falling
        {"loss": [1, 0.5, 0.4]},  # no validation split
    ],
)
def test_validation_not_rising(history):
    assert diagnostics.validation_rising(history) is None


def test_diverged_on_nan_and_on_growth():
    nan = diagnostics.diverged({"loss": [1.0, 2.0, math.nan]})
    assert nan is not None and "epoch 3" in nan.seen and "learning_rate" in nan.advice
    grew = diagnostics.diverged({"loss": [1.0, 5.0, 30.0]})
    assert grew is not None and "grew from 1 (epoch 1) to 30 (epoch 3)" in grew.seen
    assert diagnostics.diverged({"loss": [1.0, 0.5]}) is None


def test_class_imbalance():
    found = diagnostics.class_imbalance({"a": 90, "b": 10, "c": 0})
    assert found is not None and "'a' has 90 rows and 'b' 10 (9.0x)" in found.seen and "class_weight" in found.advice
    assert diagnostics.class_imbalance({"a": 60, "b": 40}) is None


def test_diagnose_collects_every_finding_and_reads_the_per_class_support():
    history = {"loss": [1.0, 3.0, 9.0], "val_loss": [1.0, 0.9, 0.8]}
    metrics = {"per_class": {"x": {"support": 95}, "y": {"support": 5}}}
    kinds = [f.kind for f in diagnostics.diagnose(history, metrics)]
    assert kinds == ["diverged", "still improving", "class imbalance"]


# -- curves against scikit-learn -----------------------------------------------------------------


def test_roc_and_average_precision_match_scikit_learn():
    from sklearn.metrics import average_precision_score, roc_auc_score

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    score = np.round(y * 0.3 + rng.random(300), 2)  # ties on purpose
    assert report_figures.roc_curve(y, score)[2] == pytest.approx(roc_auc_score(y, score))
    assert report_figures.precision_recall_curve(y, score)[2] == pytest.approx(average_precision_score(y, score))


# -- the page of real runs -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def binary_run(tmp_path_factory):
    return train_json(tmp_path_factory.mktemp("binary"), CONFIGS / "breast_cancer.yaml", "training.epochs=3")[0]


@pytest.fixture(scope="module")
def regression_run(tmp_path_factory):
    return train_json(tmp_path_factory.mktemp("regression"), CONFIGS / "diabetes.yaml", "training.epochs=3")[0]


@pytest.fixture(scope="module")
def binary_page(binary_run) -> Path:
    result = invoke("report", binary_run, "--html")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(binary_run / "report.html")
    return binary_run / "report.html"


@pytest.fixture(scope="module")
def regression_page(regression_run, tmp_path_factory) -> Path:
    page = tmp_path_factory.mktemp("pages") / "diabetes.html"
    result = invoke("report", regression_run, "--html", "-o", page)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(page)
    return page


def _images(text: str) -> list[bytes]:
    sources = re.findall(r'<img [^>]*src="([^"]*)"', text)
    assert all(s.startswith("data:image/png;base64,") for s in sources), sources
    return [base64.b64decode(s.split(",", 1)[1]) for s in sources]


def _self_contained(text: str) -> None:
    assert not re.search(r"(?:src|href)=\"(?!data:|#)", text)
    assert "http://" not in text and "https://" not in text and "url(" not in text


def test_classification_page(binary_page):
    text = binary_page.read_text()
    for section in ("run", "training", "config", "data", "test", "learning", "confusion", "roc", "environment"):
        assert f'<section id="{section}">' in text, section
    assert "Rows per split" in text and "<th>train</th><td>409</td>" in text
    assert "Class balance (test split)" in text and "malignant" in text and "mean radius: numeric" in text
    assert "<th>precision</th><th>recall</th>" in text and "loss: binary_crossentropy" in text
    assert "positive class" not in text  # only in the images
    images = _images(text)
    assert len(images) == 5  # learning curves, permutation importance, confusion matrix, ROC, precision-recall
    assert all(png.startswith(PNG_SIGNATURE) for png in images)
    _self_contained(text)
    assert "tensorflow" in text and "steps_per_execution" in text


def test_regression_page(regression_page):
    text = regression_page.read_text()
    for section in ("data", "learning", "residuals", "environment"):
        assert f'<section id="{section}">' in text, section
    assert "Target distribution" in text and "training std" in text and "bmi: numeric" in text
    assert "confusion" not in text and 'id="roc"' not in text
    assert len(_images(text)) == 4  # learning curves, target distribution, permutation importance, residuals
    _self_contained(text)


def _table(text: str, title: str) -> list[list[str]]:
    """The rows of the first table after ``title``, as cell texts."""
    body = text[text.index(title) :]
    body = body[: body.index("</table>")]
    return [re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row) for row in body.split("<tr>")[1:]]


def test_the_page_sets_the_network_beside_gradient_boosting_on_the_same_rows(binary_page, binary_run):
    """The network's column is the run's own test metrics; gradient boosting's is scikit-learn's model fitted here
    on the same training split (rebuilt as evaluate rebuilds it) and scored on the same rows."""
    import json

    from sklearn.ensemble import HistGradientBoostingClassifier

    from dlcli.data.load import load
    from dlcli.runs.saved import open_run

    text = binary_page.read_text()
    rows = {row[0]: row[1:] for row in _table(text, "Against gradient boosting")[1:]}
    assert list(rows) == ["accuracy", "macro_f1", "roc_auc"]
    metrics = json.loads((binary_run / "metrics.json").read_text())
    assert float(rows["accuracy"][0]) == pytest.approx(metrics["accuracy"], abs=5e-5)
    data = load(open_run(binary_run).config.config)
    model = HistGradientBoostingClassifier(random_state=0).fit(data.x_train, data.y_train)
    assert float(rows["accuracy"][1]) == pytest.approx(model.score(data.x_test, data.y_test), abs=5e-5)
    assert float(rows["accuracy"][2]) == pytest.approx(
        float(rows["accuracy"][0]) - float(rows["accuracy"][1]), abs=2e-4
    )
    assert f"on the run's {len(data.y_train)} training rows" in text


def test_permutation_importance_ranks_the_column_the_target_follows_first(tmp_path):
    """y follows 'signal' alone; 'noise' and the category 'shade' carry nothing, so shuffling them costs little."""
    rng = np.random.default_rng(0)
    n = 400
    signal, noise = rng.normal(size=n), rng.normal(size=n)
    shade = rng.choice(["red", "green", "blue"], size=n)
    lines = ["noise,shade,signal,y"] + [f"{a:.4f},{c},{b:.4f},{'up' if b > 0 else 'down'}" for a, c, b in
                                        zip(noise, shade, signal, strict=True)]  # fmt: skip
    (tmp_path / "t.csv").write_text("\n".join(lines) + "\n")
    (tmp_path / "c.yaml").write_text(
        "data: {path: t.csv, target: y}\nmodel: {layers: [{units: 16, activation: relu}]}\n"
        "training: {epochs: 30, plots: false}\n"
    )
    run, _ = train_json(tmp_path / "runs", tmp_path / "c.yaml")
    assert invoke("report", run, "--html").exit_code == 0
    rows = _table((run / "report.html").read_text(), "Permutation feature importance")[1:]
    assert [r[0] for r in rows][0] == "signal" and sorted(r[0] for r in rows) == ["noise", "shade", "signal"]
    drops = {r[0]: float(r[1]) for r in rows}
    assert drops["signal"] > 0.2 and abs(drops["noise"]) < 0.05 and abs(drops["shade"]) < 0.05
    text = (run / "report.html").read_text()
    assert "native categories" in text  # 'shade' went into gradient boosting as a category


def test_data_too_large_for_a_baseline_says_so(binary_run, monkeypatch, tmp_path):
    from dlcli import report_baseline

    monkeypatch.setattr(report_baseline, "MAX_CELLS", 100)
    monkeypatch.setattr(report_baseline, "MAX_FEATURES", 3)
    page = tmp_path / "p.html"
    assert invoke("report", binary_run, "--html", "-o", page).exit_code == 0
    text = page.read_text()
    assert "training cells; a baseline for data this large is left out of the report" in text
    assert "30 feature columns; permutation importance is shown for at most 3" in text


def test_a_run_whose_data_is_gone_still_gets_a_page_that_says_so(binary_run):
    from dlcli.html_report import render
    from dlcli.runs.saved import open_run

    text = render(open_run(binary_run), {"missing": "the run's data <data.csv> is gone"})
    assert "the run&#x27;s data &lt;data.csv&gt; is gone" in text and "<data.csv>" not in text
    assert len(_images(text)) == 2  # learning curves and confusion matrix come from the run's files
    assert '<section id="roc">' in text


def test_the_page_flags_what_the_history_shows(binary_run, tmp_path):
    from dlcli.html_report import render
    from dlcli.runs.saved import open_run

    run = tmp_path / "run"
    shutil.copytree(binary_run, run)
    (run / "history.csv").write_text("epoch,loss,val_loss\n1,1.0,1.0\n2,0.5,0.6\n3,0.3,0.8\n4,0.2,0.9\n")
    text = render(open_run(run), {"missing": "not needed"})
    assert "validation loss rising</b>: val_loss has risen since epoch 2" in text


def test_output_errors(binary_run, tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("")
    result = invoke("report", binary_run, "--html", "-o", blocked / "report.html")
    assert result.exit_code == 2
    assert f"cannot write {blocked / 'report.html'}: {blocked} is a file, not a folder" in result.stderr
    result = invoke("report", binary_run, "-o", tmp_path / "x.html")
    assert result.exit_code == 2 and "-o/--output goes with --html" in result.stderr


# -- in a headless browser -----------------------------------------------------------------------


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tmp_path / 'profile'}"]
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=90, check=False)


@needs_chromium
@pytest.mark.parametrize("page", ["binary_page", "regression_page"])
def test_the_page_loads_in_chromium_without_errors_and_every_image_shows(page, request, tmp_path):
    url = request.getfixturevalue(page).as_uri()
    done = _chromium(tmp_path, "--enable-logging=stderr", "--v=0", "--dump-dom", url)
    assert done.returncode == 0, done.stderr[-2000:]
    body = re.search(r"<body[^>]*>", done.stdout).group(0)
    assert 'data-images-ok="true"' in body, body
    assert int(re.search(r'data-images="(\d+)"', body).group(1)) >= 3
    assert not [line for line in done.stderr.splitlines() if "CONSOLE" in line]


@needs_chromium
def test_chromium_takes_a_screenshot(binary_page, tmp_path):
    shot = tmp_path / "report.png"
    done = _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1200,3000", "--hide-scrollbars",
                     binary_page.as_uri())  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert shot.read_bytes().startswith(PNG_SIGNATURE) and shot.stat().st_size > 20_000


# -- a sweep -------------------------------------------------------------------------------------

SWEEP = (
    XOR_RUN
    + """\
sweep:
  metric: val_accuracy
  trials: 2
  sampler: {name: tpe, seed: 0}
  pruner: none
  params:
    optimizer.learning_rate: {float: [1.0e-3, 1.0e-1], log: true}
"""
)


@pytest.fixture(scope="module")
def sweep_page(tmp_path_factory) -> Path:
    pytest.importorskip("optuna")
    root = tmp_path_factory.mktemp("sweep")
    (root / "xs.yaml").write_text(SWEEP)
    result = invoke("sweep", root / "xs.yaml", "--output-dir", root)
    assert result.exit_code == 0, result.output
    result = invoke("sweep", "report", root / "xs", "--html")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(root / "xs" / "report.html")
    return root / "xs" / "report.html"


def test_sweep_page(sweep_page):
    text = sweep_page.read_text()
    for section in ("sweep", "best", "leaderboard", "optuna"):
        assert f'<section id="{section}">' in text, section
    assert "2 complete" in text and "<th>optimizer.learning_rate</th>" in text
    assert "Test metrics (of this trial alone)" in text and "dlcli train " in text
    assert len(_images(text)) >= 1  # the optimization history at least
    _self_contained(text)


def test_sweep_report_wants_html(sweep_page):
    result = invoke("sweep", "report", sweep_page.parent)
    assert result.exit_code == 2 and "add --html" in result.stderr


@needs_chromium
def test_the_sweep_page_loads_in_chromium(sweep_page, tmp_path):
    done = _chromium(tmp_path, "--enable-logging=stderr", "--v=0", "--dump-dom", sweep_page.as_uri())
    assert 'data-images-ok="true"' in re.search(r"<body[^>]*>", done.stdout).group(0)
    assert not [line for line in done.stderr.splitlines() if "CONSOLE" in line]


def test_a_csv_run_whose_file_is_gone(tmp_path):
    """Categorical features are named as such; once the CSV is gone the page says so where its plots were."""
    (tmp_path / "data").mkdir()
    shutil.copy(CONFIGS / "data" / "churn.csv", tmp_path / "data" / "churn.csv")
    shutil.copy(CONFIGS / "churn_csv.yaml", tmp_path / "churn_csv.yaml")
    run = train_json(tmp_path / "runs", tmp_path / "churn_csv.yaml", "training.epochs=2")[0]
    (tmp_path / "data" / "churn.csv").unlink()
    result = invoke("report", run, "--html")
    assert result.exit_code == 0, result.output
    text = (run / "report.html").read_text()
    assert "city: categorical (" in text and "ROC and precision-recall" in text
    assert "data/churn.csv is gone; score a file with the training columns instead" in text
    assert len(_images(text)) == 2
