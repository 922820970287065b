"""The task read from the target's values: a float column of 0.0 and 1.0 is binary."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import invoke, train_json


def test_a_float_target_of_zeros_and_ones_is_binary_in_validate_and_train(tmp_path):
    """0.0/1.0 (a 0/1 column written by a float-typed tool) is two classes, 0 and 1, not a regression."""
    rng = np.random.default_rng(1)
    x = rng.random((120, 2))
    lines = ["a,b,y", *(f"{a:.3f},{b:.3f},{float(a + b > 1):.1f}" for a, b in x)]
    (tmp_path / "t.csv").write_text("\n".join(lines) + "\n")
    path = tmp_path / "c.yaml"
    path.write_text(
        "data: {path: t.csv, target: y}\nmodel: {layers: [{units: 4}]}\ntraining: {epochs: 1, plots: false}\n"
    )
    assert "valid (binary, input (2,), 2 classes)" in invoke("validate", path).stdout
    result = invoke("train", path, "--output-dir", tmp_path / "runs", "-q")
    assert result.exit_code == 0, result.output
    run = tmp_path / "runs" / result.stdout.strip().splitlines()[-1].split("/")[-1]
    assert json.loads((run / "labels.json").read_text()) == [0, 1]
    lines[1:] = [line.rsplit(",", 1)[0] + ",0.5" if i == 3 else line for i, line in enumerate(lines[1:])]
    (tmp_path / "t.csv").write_text("\n".join(lines) + "\n")
    assert "valid (regression" in invoke("validate", path).stdout  # a third value: a quantity again


# The task is decided once, from the target's filled values, by the same code in validate and train.


def grams_csv(path, *, holes=(), floats=False, rows=240):
    """A body-mass-style table: two measurements and a mass in whole grams (``5075``, or ``5075.0``)."""
    rng = np.random.default_rng(7)
    lines = ["flipper,bill,mass"]
    for i in range(rows):
        flipper, bill = rng.normal(200, 14), rng.normal(44, 5)
        mass = int(round((20 * flipper + 30 * bill + rng.normal(0, 300) - 800) / 25) * 25)
        cell = "" if i in holes else (f"{mass:.1f}" if floats else str(mass))
        lines.append(f"{flipper:.1f},{bill:.1f},{cell}")
    path.write_text("\n".join(lines) + "\n")


def mass_config(tmp_path, data_extra="", name="mass.csv"):
    path = tmp_path / "c.yaml"
    path.write_text(
        f"data: {{path: {name}, target: mass{data_extra}}}\nmodel: {{layers: [{{units: 8}}]}}\n"
        "training: {epochs: 1, plots: false}\n"
    )
    return path


@pytest.mark.parametrize("floats", [False, True], ids=["written-5075", "written-5075.0"])
def test_whole_grams_with_an_empty_cell_are_a_regression_in_validate_and_train(tmp_path, floats):
    """The reported case: one empty cell in a whole-number target made train see 94 classes while validate
    said regression. Now both say regression, the row is dropped with a count, and the reason is recorded."""
    grams_csv(tmp_path / "mass.csv", holes=(5,), floats=floats)
    config = mass_config(tmp_path)
    checked = invoke("validate", config)
    assert checked.exit_code == 0, checked.output
    assert "valid (regression, input (2,))" in checked.stdout
    assert "task: regression, inferred from the target: " in checked.stdout
    assert "dropped 1 row(s) without a target value (line 7)" in checked.stderr
    run, _ = train_json(tmp_path / "runs", config)
    data = json.loads((run / "environment.json").read_text())["data"]
    assert data["task"] == "regression" and "read as a quantity" in data["task_reason"]
    assert sum(data["splits"].values()) == 239
    assert not (run / "labels.json").exists()  # no classes


def test_many_whole_numbers_without_holes_are_a_quantity_but_class_codes_stay_classes(tmp_path):
    grams_csv(tmp_path / "mass.csv")
    out = invoke("validate", mass_config(tmp_path)).stdout
    assert "valid (regression" in out and "distinct whole numbers from" in out and "set task: multiclass" in out
    rng = np.random.default_rng(3)
    codes = ["a,b,mass", *(f"{a:.2f},{b:.2f},{i % 60}" for i, (a, b) in enumerate(rng.random((600, 2))))]
    (tmp_path / "codes.csv").write_text("\n".join(codes) + "\n")
    out = invoke("validate", mass_config(tmp_path, name="codes.csv")).stdout
    assert "valid (multiclass, input (2,), 60 classes)" in out  # 0..59 number classes (cifar100's 0..99 too)
    assert "60 whole-number labels (0, 1, 2, 3, ... 59)" in out


def test_a_given_task_wins_and_is_not_explained(tmp_path):
    codes = ["a,b,mass", *(f"{i % 7}.5,{i % 3},{i % 12}" for i in range(240))]  # classes 0..11, if inferred
    (tmp_path / "mass.csv").write_text("\n".join(codes) + "\n")
    (tmp_path / "c.yaml").write_text(mass_config(tmp_path).read_text() + "task: regression\n")
    out = invoke("validate", tmp_path / "c.yaml").stdout
    assert "valid (regression" in out and "inferred" not in out


def test_target_missing_error_refuses_in_validate_and_train_with_one_message(tmp_path):
    grams_csv(tmp_path / "mass.csv", holes=(5, 9))
    config = mass_config(tmp_path, ", target_missing: error")
    messages = set()
    for command in ("validate", "train"):
        result = invoke(command, config, *(["--output-dir", tmp_path / "runs"] if command == "train" else []))
        assert result.exit_code == 2
        messages.add(result.stderr.strip())
    assert len(messages) == 1
    (message,) = messages
    assert message.startswith(f"{config}:1:") and "data.target_missing:" in message
    assert "column 'mass' is empty at lines 7, 11" in message and "data.target_missing: drop" in message
    assert not (tmp_path / "runs").exists()


def test_a_streamed_file_drops_rows_without_a_target_too(tmp_path):
    grams_csv(tmp_path / "mass.csv", holes=(5, 9, 200))
    config = mass_config(tmp_path, ", streaming: true")
    assert "dropped 3 row(s) without a target value (lines 7, 11, 202)" in invoke("validate", config).stderr
    run, metrics = train_json(tmp_path / "runs", config)
    data = json.loads((run / "environment.json").read_text())["data"]
    assert data["task"] == "regression" and sum(data["splits"].values()) == 237
    assert np.isfinite(metrics["mae"])


def test_an_array_target_with_nan_drops_those_rows(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.random((200, 3)).astype(np.float32)
    y = (x.sum(axis=1) * 10).astype(np.float64)
    y[[4, 50]] = np.nan
    np.savez(tmp_path / "d.npz", x=x, y=y)
    config = tmp_path / "c.yaml"
    config.write_text("data: {path: d.npz}\nmodel: {layers: [{units: 4}]}\ntraining: {epochs: 1, plots: false}\n")
    checked = invoke("validate", config)
    assert "valid (regression" in checked.stdout
    assert "d.npz:y: dropped 2 row(s) without a target value (index 4, 50)" in checked.stderr
    run, metrics = train_json(tmp_path / "runs", config)
    assert sum(json.loads((run / "environment.json").read_text())["data"]["splits"].values()) == 198
    assert np.isfinite(metrics["loss"])
    config.write_text(config.read_text().replace("d.npz}", "d.npz, target_missing: error}"))
    assert "d.npz:y is empty at index 4, 50" in invoke("validate", config).stderr


@pytest.mark.parametrize(
    ("values", "task", "reason"),
    [
        (["no", "yes"], "binary", "2 text labels ('no', 'yes')"),
        ([0.0, 1.0], "binary", "two values only, 0.0, 1.0"),
        ([1, 2, 3], "multiclass", "3 whole-number labels (1, 2, 3)"),
        ([0.5, 1.5, 7.25], "regression", "numbers from 0.5 to 7.25, read as a quantity"),
        (list(range(1000, 1600, 10)), "regression", "60 distinct whole numbers from 1000 to 1590"),
        ([i for i in range(100) if i % 17], "multiclass", "94 whole-number labels"),  # codes with a few gaps
    ],
)
def test_the_reason_names_what_decided(values, task, reason):
    from dlcli.data.task import decide

    found, why = decide("auto", np.array(values), "t.csv: column 'y'")
    assert found == task and why.startswith(reason)
