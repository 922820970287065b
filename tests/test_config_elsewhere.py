"""Keys in the wrong section (as a Keras script places them) say where they belong: a did-you-mean across sections."""

from __future__ import annotations

import pytest
from conftest import CONFIGS, invoke

from dlcli.config import elsewhere

BASE = "data: {source: sklearn, name: iris}\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("training: {validation_split: 0.2}", "training.validation_split: validation_split belongs under data: "
         "(data.validation_split)"),
        ("training: {learning_rate: 0.01}", "training.learning_rate: learning_rate belongs under optimizer: "
         "(optimizer.learning_rate)"),
        ("training: {target: y}", "training.target: target belongs under data: (data.target)"),
        ("training: {layers: []}", "training.layers: layers belongs under model: (model.layers)"),
        ("model: {epochs: 3}", "model.epochs: epochs belongs under training: (training.epochs)"),
        ("model: {batch_size: 3}", "model.batch_size: batch_size belongs under training: (training.batch_size)"),
        ("training: {metrics: [mae]}", "training.metrics: metrics belongs at the top level (metrics:)"),
        ("batch_size: 8", "batch_size: batch_size belongs under training: (training.batch_size)"),
        ("learning_rate: 0.1", "learning_rate: learning_rate belongs under optimizer: (optimizer.learning_rate)"),
        ("training: {units: 3}", "training.units: units belongs under model.layers[0]: (model.layers[0].units) "
         "or under model.output: (model.output.units)"),
        ("training: {patience: 3}", "training.patience: patience belongs under training.early_stopping: "
         "(training.early_stopping.patience) or under training.reduce_lr_on_plateau:"),
        ("training: {early_stopping: {factor: 0.5}}", "training.early_stopping.factor: factor belongs under "
         "training.reduce_lr_on_plateau: (training.reduce_lr_on_plateau.factor)"),
        ("training: {lr: 0.1}", "training.lr: 'lr' is Keras's name; dlcli's is optimizer.learning_rate"),
        ("training: {validation_data: v.csv}", "'validation_data' is Keras's name; dlcli's is data.validation_path"),
        ("training: {beta_1: 0.8}", "training.beta_1: beta_1 belongs under optimizer: (optimizer: {name: ..., "
         "beta_1: ...})"),
        ("training: {from_logits: true}", "from_logits belongs under loss: (loss: {name: ..., from_logits: ...})"),
        ("training: {callbacks: []}", "unknown key 'callbacks'; dlcli's callbacks are keys of training: "
         "early_stopping"),
        ("training: {learning_rte: 0.1}", "unknown key 'learning_rte' (did you mean optimizer.learning_rate?)"),
    ],
)  # fmt: skip
def test_a_key_of_another_section_says_where_it_belongs(write, text, expected):
    path = write("c.yaml", BASE + text + "\n")
    result = invoke("validate", path)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith(f"{path}:2:"), result.stderr
    assert expected in result.stderr


def test_a_data_key_under_data_of_the_wrong_source_keeps_its_own_message(write):
    path = write("c.yaml", "data: {source: sklearn, name: iris, target: y}\n")
    result = invoke("validate", path)
    assert result.exit_code == 2
    assert "data.target: not used by source 'sklearn'; remove it" in result.stderr


def test_a_data_section_without_a_source_still_says_where_a_key_belongs(write):
    path = write("c.yaml", "data: {name: iris, epochs: 3}\n")
    result = invoke("validate", path)
    assert result.exit_code == 2
    assert f"{path}:1:20: data.epochs: epochs belongs under training: (training.epochs)" in result.stderr.splitlines()
    assert "data.source: required key is missing" in result.stderr


def test_a_misspelling_within_the_section_is_still_preferred(write):
    path = write("c.yaml", BASE + "training: {epoch: 3}\ndata2: 1\n")
    result = invoke("validate", path)
    assert "training.epoch: unknown key 'epoch' (did you mean 'epochs'?)" in result.stderr
    assert "data2: unknown key 'data2' (did you mean 'data'?)" in result.stderr


def test_a_keras_name_inside_its_own_section_gets_the_usual_did_you_mean(write):
    path = write("c.yaml", "data: {source: sklearn, name: iris, test_size: 0.3}\n")
    assert "data.test_size: unknown key 'test_size' (did you mean 'test_split'?)" in invoke("validate", path).stderr


def test_set_overrides_get_the_same_hint():
    result = invoke("validate", CONFIGS / "digits.yaml", "--set", "training.learning_rate=0.1")
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "--set training.learning_rate=0.1: training.learning_rate: learning_rate belongs under optimizer: "
        "(optimizer.learning_rate)"
    )


def test_every_keras_name_points_at_a_real_key():
    for key, target in elsewhere.KERAS.items():
        assert target in elsewhere.where(target[-1]), key
        assert key not in elsewhere.index(), key
    for key in (*elsewhere.OPTIMIZER_PARAMS, *elsewhere.LOSS_PARAMS, *elsewhere.NO_KEY):
        assert key not in elsewhere.index(), key


def test_the_index_knows_every_section():
    assert elsewhere.where("validation_split") == [("data", "validation_split")]
    assert elsewhere.where("warmup_steps") == [("optimizer", "schedule", "warmup_steps")]
    assert ("model", "layers", 0, "dropout") in elsewhere.where("dropout")
    assert elsewhere.where("n_samples") == [("data", "n_samples")]  # a key of one source only
