"""The recommended network: what a config gets for each key it leaves out when it leaves out ``model.layers``;
a network spelled out keeps Keras's meanings and dlcli's classic defaults."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from dlcli.config import recipe
from dlcli.config.load import load_config_text
from dlcli.config.resolve import resolve
from tests.conftest import invoke, train_json


@pytest.fixture(autouse=True)
def _a_table_here(tmp_path, monkeypatch):
    """t.csv in the working folder, where the configs below name it."""
    (tmp_path / "t.csv").write_text("a,b,label\n1,2,x\n")
    monkeypatch.chdir(tmp_path)


def resolved(text: str, task: str = "binary", n_classes: int | None = 2, rows: int | None = 1000):
    return resolve(load_config_text(text, "c.yaml"), task, n_classes, rows=rows)


TABLE = "data: {path: t.csv, target: label}\n"


def test_a_data_only_config_gets_the_recommended_network():
    config = resolved(TABLE)
    dumped = config.dump()
    assert (
        dumped["model"]["layers"]
        == [
            {
                "type": "dense",
                "units": 256,
                "activation": "relu",
                "dropout": 0.1,
                "kernel_initializer": "glorot_uniform",
                "batch_norm": False,
            }  # fmt: skip
        ]
        * 3
    )
    assert dumped["model"]["numeric_embedding"] == {"type": "periodic", **recipe.NUMERIC_EMBEDDING, "lite": False}
    assert dumped["model"]["ensemble"] == {"members": 8} == recipe.ENSEMBLE
    assert dumped["optimizer"] == recipe.OPTIMIZER
    training = dumped["training"]
    assert (training["epochs"], training["batch_size"]) == (recipe.MAX_EPOCHS, 32)  # 1000 rows: 25 -> 32
    assert training["early_stopping"] == {
        "monitor": "val_loss", "patience": recipe.PATIENCE, "min_delta": 0.0, "mode": "auto",
        "restore_best_weights": True,
    }  # fmt: skip
    assert (dumped["data"]["numeric"], dumped["data"]["missing"]) == ("robust", "median")
    regression = resolved(TABLE, "regression", None)
    assert regression.scales_target and "recommended network" in regression.scale_target_reason


def test_every_key_given_wins_over_the_recipe():
    config = resolved(
        "data: {path: t.csv, target: label, numeric: standard, missing: error, scale_target: false}\n"
        "model: {numeric_embedding: null, ensemble: false}\noptimizer: {name: sgd, learning_rate: 0.1}\n"
        "training: {epochs: 7, batch_size: 16, early_stopping: null}\n",
        "regression",
        None,
    )
    dumped = config.dump()
    assert dumped["model"]["layers"][0]["units"] == 256  # still the recommended layers: they were left out
    assert "numeric_embedding" not in dumped["model"] and "ensemble" not in dumped["model"]
    assert dumped["optimizer"] == {"name": "sgd", "learning_rate": 0.1}
    assert (dumped["training"]["epochs"], dumped["training"]["batch_size"]) == (7, 16)
    assert "early_stopping" not in dumped["training"]
    assert (dumped["data"]["numeric"], dumped["data"]["missing"]) == ("standard", "error")
    assert not config.scales_target


def test_a_spelled_out_network_keeps_the_classic_defaults():
    dumped = resolved(TABLE + "model: {layers: [{units: 64}, {units: 64}]}\n", "regression", None).dump()
    assert dumped["optimizer"] == {"name": "adam", "learning_rate": 0.001}
    assert (dumped["training"]["epochs"], dumped["training"]["batch_size"]) == (20, 32)
    assert "early_stopping" not in dumped["training"] and "numeric_embedding" not in dumped["model"]
    assert "ensemble" not in dumped["model"]
    assert (dumped["data"]["numeric"], dumped["data"]["missing"], dumped["data"]["scale_target"]) == (
        "standard",
        "error",
        False,
    )


def test_arrays_get_the_network_and_the_training_but_no_table_preprocessing():
    dumped = resolved("data: {source: sklearn, name: digits}\n", "multiclass", 10, rows=1797).dump()
    assert dumped["model"]["layers"][0]["units"] == 256 and "numeric_embedding" not in dumped["model"]
    assert "ensemble" not in dumped["model"]  # earned on tables only
    assert dumped["data"]["numeric"] == "standard" and dumped["training"]["batch_size"] == 32
    no_validation = resolved("data: {source: sklearn, name: iris, validation_split: 0}\n", "multiclass", 3).dump()
    assert "early_stopping" not in no_validation["training"]  # nothing to watch


@pytest.mark.parametrize(("rows", "batch"), [(None, 32), (100, 32), (2_000, 64), (5_000, 128), (28_000, 256)])
def test_the_batch_size_grows_with_the_rows(rows, batch):
    assert recipe.batch_size(rows) == batch


def test_a_version_2_config_without_layers_keeps_what_version_2_trained():
    config = load_config_text("config_version: 2\n" + TABLE, "old.yaml")
    assert [layer.units for layer in config.model.layers] == [64, 64]
    assert (config.data.missing, config.data.numeric) == ("error", "standard")
    dumped = resolve(config, "binary", 2, rows=1000).dump()
    assert dumped["optimizer"]["name"] == "adam" and dumped["training"]["epochs"] == 20


def table(path, rows: int = 300) -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=rows), rng.normal(size=rows)
    label = np.where(a + b > 0, "yes", "no")
    cells = [
        f"{'' if i % 17 == 3 else f'{x:.3f}'},{y:.3f},{lab}"
        for i, (x, y, lab) in enumerate(zip(a, b, label, strict=True))
    ]
    path.write_text("a,b,label\n" + "\n".join(cells) + "\n")


def test_a_data_only_table_with_holes_trains_the_recipe_and_its_saved_config_repeats_it(tmp_path, write):
    table(tmp_path / "t.csv")
    config = write("c.yaml", TABLE.replace("}", ", test_split: 0.25}") + "training: {epochs: 3, plots: false}\n")
    result = invoke("train", config, "--output-dir", tmp_path / "runs", "--json")
    assert result.exit_code == 0, result.output
    assert "missing values filled with the training split's median (data.missing: median" in result.stderr
    run = json.loads(result.stdout)["run_dir"]
    saved = yaml.safe_load(open(f"{run}/config.yaml"))
    assert saved["model"]["layers"][0]["units"] == 256 and saved["data"]["missing"] == "median"
    again, _ = train_json(tmp_path / "again", f"{run}/config.yaml")
    assert yaml.safe_load(open(again / "config.yaml")) == saved  # every recipe value spelled out: the same run


def test_the_fill_note_names_numeric_columns_beside_text_categories(tmp_path, write):
    rng = np.random.default_rng(1)
    rows = [
        f"{'' if i % 11 == 2 else f'{rng.normal():.3f}'},{rng.choice(['red', 'blue', 'green'])},"
        f"{'' if i % 13 == 5 else f'{rng.normal():.3f}'},{rng.choice(['yes', 'no'])}"
        for i in range(240)
    ]
    (tmp_path / "t.csv").write_text("a,colour,b,label\n" + "\n".join(rows) + "\n")
    config = write("c.yaml", TABLE.replace("}", ", test_split: 0.25}") + "training: {epochs: 1, plots: false}\n")
    result = invoke("train", config, "--output-dir", tmp_path / "runs")
    assert result.exit_code == 0, result.output
    note = next(line for line in result.stderr.splitlines() if "missing values filled" in line)
    assert "a (" in note and "b (" in note and "colour" not in note


def test_a_table_of_text_columns_only_trains_the_recipe(tmp_path, write):
    rng = np.random.default_rng(2)
    a, b = rng.choice(["x", "y", "z"], 200), rng.choice(["p", "q"], 200)
    label = np.where((a == "x") != (b == "p"), "yes", "no")
    (tmp_path / "t.csv").write_text(
        "a,b,label\n" + "\n".join(",".join(row) for row in zip(a, b, label, strict=True)) + "\n"
    )
    config = write("c.yaml", TABLE + "training: {epochs: 2, plots: false}\n")  # no number to scale robustly or embed
    result = invoke("train", config, "--output-dir", tmp_path / "runs", "--json")
    assert result.exit_code == 0, result.output
    run = json.loads(result.stdout)["run_dir"]
    assert yaml.safe_load(open(f"{run}/config.yaml"))["data"]["numeric"] == "robust"
    assert invoke("predict", run, tmp_path / "t.csv").exit_code == 0
