"""Config parsing: defaults, name forms, located errors, ``--set`` overrides and data paths."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from dlcli.config.load import load_config, load_config_text
from dlcli.config.schema import LossSpec, OptimizerSpec
from dlcli.config.sections import EarlyStoppingConfig
from dlcli.errors import ConfigError, UsageError

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
DIGITS = "data: {source: sklearn, name: digits}\n"


def write(tmp_path: Path, text: str, name: str = "run.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def config_error(path: Path, overrides=()) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_config(path, overrides)
    assert info.value.exit_code == 2
    return info.value


def find_problem(err: ConfigError, prefix: str, *fragments: str) -> str:
    """The one reported problem that starts with ``prefix`` and contains every fragment."""
    hits = [p for p in err.problems if p.startswith(prefix) and all(f in p for f in fragments)]
    assert hits, f"no problem starting {prefix!r} containing {fragments}; got {err.problems}"
    return hits[0]


# -- good configs -------------------------------------------------------------------------------


def test_minimal_config_fills_every_default(tmp_path):
    config = load_config(write(tmp_path, DIGITS, "digits-small.yaml"))
    assert config.name == "digits-small"
    assert config.seed == 0
    assert config.task == "auto"
    assert (config.data.test_split, config.data.validation_split, config.data.normalize) == (0.2, 0.1, True)
    assert [(layer.units, layer.activation, layer.dropout) for layer in config.model.layers] == [
        (64, "relu", 0.0),
        (64, "relu", 0.0),
    ]
    assert config.model.output == "auto"
    assert config.loss == "auto"
    assert config.metrics == "auto"
    assert isinstance(config.optimizer, OptimizerSpec)
    assert (config.optimizer.name, config.optimizer.learning_rate) == ("adam", 0.001)
    t = config.training
    assert (t.epochs, t.batch_size, t.early_stopping, t.device) == (20, 32, None, "auto")


def test_full_config_keeps_given_values(tmp_path):
    text = """\
name: my-run
seed: 7
task: multiclass
data: {source: sklearn, name: iris, test_split: 0.3, validation_split: 0, normalize: false}
model:
  layers:
    - {units: 16, activation: tanh}
    - {units: 8, dropout: 0.25}
  output: {units: 3, activation: softmax}
loss: sparse_categorical_crossentropy
optimizer: {name: sgd, learning_rate: 0.1, momentum: 0.9}
metrics: [accuracy, {name: auc}]
training: {epochs: 3, batch_size: 8, early_stopping: {monitor: loss, patience: 2}, device: cpu}
"""
    config = load_config(write(tmp_path, text))
    assert config.name == "my-run"
    assert (config.seed, config.task) == (7, "multiclass")
    assert (config.data.name, config.data.test_split, config.data.validation_split) == ("iris", 0.3, 0)
    assert [(la.units, la.activation, la.dropout) for la in config.model.layers] == [
        (16, "tanh", 0.0),
        (8, "relu", 0.25),
    ]
    assert (config.model.output.units, config.model.output.activation) == (3, "softmax")
    assert config.loss == "sparse_categorical_crossentropy"
    assert config.optimizer.name == "sgd"
    assert config.optimizer.model_extra == {"momentum": 0.9}
    assert config.metrics[0] == "accuracy"
    assert config.metrics[1].name == "auc"
    assert (config.training.epochs, config.training.batch_size, config.training.device) == (3, 8, "cpu")
    assert (config.training.early_stopping.monitor, config.training.early_stopping.patience) == ("loss", 2)


def test_name_default_is_made_safe_from_the_stem(tmp_path):
    assert load_config(write(tmp_path, DIGITS, "my config (v2).yaml")).name == "my-config-v2"


def test_load_config_text_uses_the_given_stem():
    assert load_config_text(DIGITS, "<text>", stem="example").name == "example"


@pytest.mark.parametrize("text", ["optimizer: adam\n", "optimizer: Adam\n"])
def test_optimizer_string_becomes_a_spec(text):
    config = load_config_text(DIGITS + text, "x.yaml")
    assert isinstance(config.optimizer, OptimizerSpec)
    assert config.optimizer.name == "adam"


def test_optimizer_mapping_keeps_extra_params():
    config = load_config_text(DIGITS + "optimizer: {name: RMSprop, learning_rate: 0.01, rho: 0.8}\n", "x.yaml")
    assert (config.optimizer.name, config.optimizer.learning_rate) == ("rmsprop", 0.01)
    assert config.optimizer.model_extra == {"rho": 0.8}


def test_loss_as_a_name():
    assert load_config_text(DIGITS + "loss: MeanSquaredError\n", "x.yaml").loss == "MeanSquaredError"


def test_loss_as_a_mapping_with_from_logits():
    config = load_config_text(DIGITS + "loss: {name: binary_crossentropy, from_logits: true}\n", "x.yaml")
    assert isinstance(config.loss, LossSpec)
    assert config.loss.name == "binary_crossentropy"
    assert config.loss.model_extra == {"from_logits": True}


def test_early_stopping_true_is_the_default_settings():
    config = load_config_text(DIGITS + "training: {early_stopping: true}\n", "x.yaml")
    assert config.training.early_stopping == EarlyStoppingConfig()
    assert (config.training.early_stopping.monitor, config.training.early_stopping.patience) == ("val_loss", 5)


def test_early_stopping_false_is_off():
    assert load_config_text(DIGITS + "training: {early_stopping: false}\n", "x.yaml").training.early_stopping is None


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n"])
def test_empty_file_has_its_own_message(tmp_path, text):
    err = config_error(write(tmp_path, text))
    assert len(err.problems) == 1
    assert "the file is empty; a config needs at least a data section" in err.problems[0]


def test_dumped_config_loads_back_to_the_same_config(tmp_path):
    text = DIGITS + "training: {early_stopping: true, epochs: 4}\noptimizer: {name: sgd, momentum: 0.5}\n"
    first = load_config(write(tmp_path, text))
    again = load_config(write(tmp_path, yaml.safe_dump(first.dump()), "saved.yaml"))
    assert again.dump() == first.dump()


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.name)
def test_every_example_config_validates(path, mnist_npz):
    # mnist.yaml names the file Keras downloads; the tests use a small one with the same keys.
    overrides = [f"data.path={mnist_npz}"] if path.name == "mnist.yaml" else []
    config = load_config(path, overrides)
    assert config.name


# -- bad configs ----------------------------------------------------------------------------------

BAD = [
    # id, yaml, line, key path, fragments
    (
        "unknown-top-level-key",
        DIGITS + "traner: {epochs: 3}\n",
        2,
        "traner",
        ["unknown key 'traner'", "did you mean 'training'?"],
    ),
    ("unknown-nested-key", DIGITS + "training:\n  epocs: 3\n", 3, "training.epocs", ["did you mean 'epochs'?"]),
    (
        "unknown-early-stopping-key",
        DIGITS + "training:\n  early_stopping:\n    patiense: 3\n",
        4,
        "training.early_stopping.patiense",
        ["did you mean 'patience'?"],
    ),
    (
        "misspelled-activation",
        DIGITS + "model:\n  layers:\n    - {units: 8}\n    - {units: 8, activation: rleu}\n",
        5,
        "model.layers[1].activation",
        ["unknown activation 'rleu'", "did you mean 'relu'?"],
    ),
    (
        "unknown-loss",
        DIGITS + "loss: sparse_categoral_crossentropy\n",
        2,
        "loss",
        ["unknown loss 'sparse_categoral_crossentropy'", "did you mean 'sparse_categorical_crossentropy'?"],
    ),
    (
        "unknown-optimizer",
        DIGITS + "optimizer: rmsprob\n",
        2,
        "optimizer",
        ["unknown optimizer 'rmsprob'", "did you mean 'rmsprop'?"],
    ),
    (
        "unknown-optimizer-in-mapping",
        DIGITS + "optimizer:\n  name: rmsprob\n  learning_rate: 0.01\n",
        3,
        "optimizer.name",
        ["unknown optimizer 'rmsprob'", "did you mean 'rmsprop'?"],
    ),
    (
        "unknown-metric",
        DIGITS + "metrics: [accuracy, acuracy]\n",
        2,
        "metrics[1]",
        ["unknown metric 'acuracy'", "did you mean 'accuracy'?"],
    ),
    (
        "unknown-metric-in-mapping",
        DIGITS + "metrics:\n  - name: acuracy\n",
        3,
        "metrics[0].name",
        ["unknown metric 'acuracy'", "did you mean 'accuracy'?"],
    ),
    (
        "zero-units",
        DIGITS + "model:\n  layers:\n    - {units: 0}\n",
        4,
        "model.layers[0].units",
        ["must be > 0", "got 0"],
    ),
    (
        "units-missing",
        DIGITS + "model:\n  layers:\n    - {activation: relu}\n",
        4,
        "model.layers[0].units",
        ["required key is missing"],
    ),
    (
        "dropout-too-big",
        DIGITS + "model:\n  layers:\n    - {units: 4, dropout: 1.5}\n",
        4,
        "model.layers[0].dropout",
        ["must be < 1", "got 1.5"],
    ),
    (
        "zero-test-split",
        "data:\n  source: sklearn\n  name: digits\n  test_split: 0\n",
        4,
        "data.test_split",
        ["must be > 0", "got 0"],
    ),
    (
        "epochs-not-a-number",
        DIGITS + "training:\n  epochs: abc\n",
        3,
        "training.epochs",
        ["expected a whole number", "got 'abc'"],
    ),
    ("batch-size-zero", DIGITS + "training: {batch_size: 0}\n", 2, "training.batch_size", ["must be > 0"]),
    (
        "negative-learning-rate",
        DIGITS + "optimizer:\n  name: adam\n  learning_rate: -1\n",
        4,
        "optimizer.learning_rate",
        ["must be > 0", "got -1"],
    ),
    ("missing-data", "seed: 1\n", 1, "data", ["required key is missing", "source: sklearn"]),
    (
        "unknown-source",
        "data:\n  source: skleran\n  name: digits\n",
        2,
        "data.source",
        ["got 'skleran'", "did you mean 'sklearn'?", "sklearn, csv, parquet, jsonl, npz, npy, keras, synthetic"],
    ),
    (
        "unknown-sklearn-dataset",
        "data:\n  source: sklearn\n  name: digts\n",
        3,
        "data.name",
        ["unknown sklearn dataset 'digts'", "did you mean 'digits'?"],
    ),
    ("sklearn-without-name", "data:\n  source: sklearn\n", 2, "data.name", ["needs 'name'"]),
    ("csv-without-target", "data:\n  source: csv\n  path: train.csv\n", 2, "data.target", ["needs 'target'"]),
    (
        "key-ignored-by-source",
        "data:\n  source: sklearn\n  name: iris\n  target: y\n",
        4,
        "data.target",
        ["not used by source 'sklearn'"],
    ),
    (
        "unknown-device",
        DIGITS + "training:\n  device: gpuu\n",
        3,
        "training.device",
        ["got 'gpuu'", "did you mean 'gpu'?"],
    ),
    ("unsafe-name", "name: a/b\n" + DIGITS, 1, "name", ["cannot name a run directory"]),
    (
        "val-monitor-without-validation",
        "data: {source: sklearn, name: digits, validation_split: 0}\ntraining:\n  early_stopping:\n    monitor: val_loss\n",
        4,
        "training.early_stopping.monitor",
        ["needs validation data"],
    ),
    (
        "duplicate-key",
        "seed: 1\n" + DIGITS + "seed: 2\n",
        3,
        "seed",
        ["duplicate key 'seed'", "first given on line 1"],
    ),
    ("yaml-syntax-error", "data:\n  source: sklearn\n   name: digits\n", 3, "", ["YAML syntax error"]),
    ("yaml-tab", "data:\n  source: sklearn\n\tname: digits\n", 3, "", ["YAML syntax error"]),
    ("top-level-list", "- data\n- model\n", 1, "", ["a config is a mapping", "got a list"]),
    ("top-level-scalar", "hello\n", 1, "", ["a config is a mapping", "got the value 'hello'"]),
]


@pytest.mark.parametrize(("text", "line", "key", "fragments"), [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_config_is_located(tmp_path, text, line, key, fragments):
    path = write(tmp_path, text)
    err = config_error(path)
    assert isinstance(err, UsageError) and isinstance(err, ValueError)
    key_part = f" {key}: " if key else ""
    find_problem(err, f"{path}:{line}:", key_part, *fragments)


def test_load_config_text_uses_the_source_name():
    with pytest.raises(ConfigError, match=r"^<built-in>:2:\d+: training.epochs: "):
        load_config_text(DIGITS + "training: {epochs: 0}\n", "<built-in>")


def test_several_problems_are_reported_at_once(tmp_path):
    text = """\
traner: 1
data:
  source: sklearn
  name: digits
model:
  layers:
    - {units: 0, activation: rleu}
training: {epochs: abc}
"""
    path = write(tmp_path, text)
    err = config_error(path)
    assert len(err.problems) == 4
    find_problem(err, f"{path}:1:1:", "traner: unknown key")
    find_problem(err, f"{path}:7:", "model.layers[0].units: must be > 0")
    find_problem(err, f"{path}:7:", "model.layers[0].activation: unknown activation 'rleu'")
    find_problem(err, f"{path}:8:", "training.epochs: expected a whole number")
    assert err.lines() == err.problems
    assert str(err) == "\n".join(err.problems)


def test_duplicate_keys_are_all_reported(tmp_path):
    path = write(tmp_path, "seed: 1\nseed: 2\n" + DIGITS + "training:\n  epochs: 1\n  epochs: 2\n")
    err = config_error(path)
    find_problem(err, f"{path}:2:1:", "seed: duplicate key")
    find_problem(err, f"{path}:6:3:", "training.epochs: duplicate key")


def test_missing_config_file(tmp_path):
    path = tmp_path / "nope.yaml"
    err = config_error(path)
    assert str(err).startswith(str(path))
    assert "not found" in str(err)


def test_directory_as_config(tmp_path):
    err = config_error(tmp_path)
    assert str(err).startswith(str(tmp_path))
    assert "is a directory" in str(err)


def test_binary_file_as_config(tmp_path):
    path = tmp_path / "model.keras"
    path.write_bytes(b"\xff\xfe\x00PK\x03\x04")
    assert "not a UTF-8 text file" in str(config_error(path))


def test_unknown_metric_names_its_index(tmp_path):
    path = write(tmp_path, DIGITS + "metrics:\n  - accuracy\n  - acuracy\n")
    find_problem(config_error(path), f"{path}:4:", " metrics[1]: unknown metric 'acuracy'")


@pytest.mark.parametrize(
    "text",
    [
        "loss: {name: sparse_categorial_crossentropy}\n",
        "model: {output: {units: 10, activation: sofmax}}\n",
        "metrics: [{name: acuracy}]\n",
    ],
)
def test_mapping_forms_report_one_clean_problem(tmp_path, text):
    err = config_error(write(tmp_path, DIGITS + text))
    assert len(err.problems) == 1, err.problems
    assert "tagged-union" not in str(err) and "OutputConfig" not in str(err)


def test_mapping_forms_still_name_the_bad_value(tmp_path):
    path = write(tmp_path, DIGITS + "loss: {name: sparse_categorial_crossentropy}\n")
    find_problem(config_error(path), f"{path}:2:", "did you mean 'sparse_categorical_crossentropy'?")
    path = write(tmp_path, DIGITS + "model: {output: {units: 10, activation: sofmax}}\n")
    find_problem(config_error(path), f"{path}:2:", "model.output", "did you mean 'softmax'?")


# -- --set overrides ------------------------------------------------------------------------------

LAYERED = DIGITS + "model:\n  layers:\n    - {units: 8}\n    - {units: 8}\n"


def test_set_scalar(tmp_path):
    config = load_config(write(tmp_path, LAYERED), ["training.epochs=5", "seed=3", "data.name=iris"])
    assert (config.training.epochs, config.seed, config.data.name) == (5, 3, "iris")


def test_set_list_index(tmp_path):
    config = load_config(write(tmp_path, LAYERED), ["model.layers[0].units=32", "model.layers[1].activation=tanh"])
    assert [(la.units, la.activation) for la in config.model.layers] == [(32, "relu"), (8, "tanh")]


def test_set_creates_nested_sections(tmp_path):
    config = load_config(write(tmp_path, DIGITS), ["training.early_stopping.patience=3"])
    assert config.training.early_stopping.patience == 3
    assert config.training.early_stopping.monitor == "val_loss"


def test_set_value_is_yaml(tmp_path):
    config = load_config(write(tmp_path, DIGITS), ["model.layers=[{units: 3}, {units: 4, dropout: 0.5}]"])
    assert [(la.units, la.dropout) for la in config.model.layers] == [(3, 0.0), (4, 0.5)]


def test_set_later_wins(tmp_path):
    assert load_config(write(tmp_path, DIGITS), ["seed=1", "seed=2"]).seed == 2


def test_set_bad_value_is_reported_as_the_set(tmp_path):
    err = config_error(write(tmp_path, DIGITS), ["training.epochs=abc"])
    assert err.problems == ["--set training.epochs=abc: training.epochs: expected a whole number; got 'abc'"]


def test_set_unknown_key(tmp_path):
    err = config_error(write(tmp_path, DIGITS), ["training.epoch=3"])
    find_problem(err, "--set training.epoch=3: ", "training.epoch: unknown key 'epoch'", "did you mean 'epochs'?")


def test_set_and_file_problems_together(tmp_path):
    path = write(tmp_path, LAYERED + "training: {epochs: 0}\n")
    err = config_error(path, ["model.layers[0].activation=rleu"])
    find_problem(err, f"{path}:6:", "training.epochs")
    find_problem(err, "--set model.layers[0].activation=rleu: ", "did you mean 'relu'?")


@pytest.mark.parametrize("override", ["model.layers[2].units=3", "model.layers[5]=3"])
def test_set_index_out_of_range(tmp_path, override):
    err = config_error(write(tmp_path, LAYERED), [override])
    assert str(err).startswith(f"--set {override}: model.layers has 2 item(s); index")
    assert "out of range" in str(err)


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ("trainingepochs", "expected KEY=VALUE"),
        ("=3", "expected KEY=VALUE"),
        ("training.=3", "ends with '.'"),
        ("[0]=3", "starts with a name"),
        ("training epochs=3", "cannot read key path"),
        ("seed[0]x=1", "cannot read key path"),
    ],
)
def test_set_malformed(tmp_path, override, fragment):
    err = config_error(write(tmp_path, DIGITS), [override])
    assert str(err).startswith(f"--set {override}: ")
    assert fragment in str(err)


def test_set_below_a_scalar_replaces_it_and_fails_validation(tmp_path):
    err = config_error(write(tmp_path, DIGITS), ["seed.value=1"])
    assert "seed: expected a whole number; got {'value': 1}" in str(err)


def test_set_into_a_list_by_name_is_an_error(tmp_path):
    err = config_error(write(tmp_path, LAYERED), ["model.layers.units=3"])
    assert str(err).startswith("--set model.layers.units=3: model.layers is not a mapping")


def test_set_unknown_new_section_is_reported_as_the_set(tmp_path):
    err = config_error(write(tmp_path, DIGITS), ["traner.epochs=3"])
    assert str(err).startswith("--set traner.epochs=3: traner: unknown key")


def test_set_double_dot_is_malformed(tmp_path):
    err = config_error(write(tmp_path, DIGITS), ["training..epochs=3"])
    assert str(err).startswith("--set training..epochs=3: ")


# -- relative data paths ----------------------------------------------------------------------------

CSV_TEXT = "a,label\n1,x\n2,y\n"


def csv_config(tmp_path, data_path: str) -> Path:
    cfg_dir = tmp_path / "configs"
    cfg_dir.mkdir(exist_ok=True)
    return write(cfg_dir, f"data:\n  source: csv\n  path: {data_path}\n  target: label\n")


def test_data_path_relative_to_the_config_file(tmp_path, monkeypatch):
    path = csv_config(tmp_path, "train.csv")
    (path.parent / "train.csv").write_text(CSV_TEXT)
    (tmp_path / "train.csv").write_text(CSV_TEXT)
    monkeypatch.chdir(tmp_path)
    assert load_config(path).data.path == str((path.parent / "train.csv").resolve())


def test_data_path_falls_back_to_the_working_directory(tmp_path, monkeypatch):
    path = csv_config(tmp_path, "data/train.csv")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train.csv").write_text(CSV_TEXT)
    monkeypatch.chdir(tmp_path)
    assert load_config(path).data.path == str((tmp_path / "data" / "train.csv").resolve())


def test_absolute_data_path_is_kept(tmp_path):
    data_file = tmp_path / "train.csv"
    data_file.write_text(CSV_TEXT)
    assert load_config(csv_config(tmp_path, str(data_file))).data.path == str(data_file)


def test_test_path_is_resolved_too(tmp_path):
    path = csv_config(tmp_path, "train.csv")
    path.write_text(path.read_text() + "  test_path: test.csv\n")
    (path.parent / "train.csv").write_text(CSV_TEXT)
    (path.parent / "test.csv").write_text(CSV_TEXT)
    assert load_config(path).data.test_path == str((path.parent / "test.csv").resolve())


def test_missing_data_file_names_data_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = csv_config(tmp_path, "missing.csv")
    err = config_error(path)
    assert str(err).startswith(f"{path}:3:")
    assert "data.path: file not found: 'missing.csv'" in str(err)
    assert str(path.parent / "missing.csv") in str(err)


def test_load_config_text_resolves_against_base_dir(tmp_path):
    (tmp_path / "t.csv").write_text(CSV_TEXT)
    config = load_config_text("data: {source: csv, path: t.csv, target: label}\n", "x.yaml", base_dir=tmp_path)
    assert config.data.path == str((tmp_path / "t.csv").resolve())


@pytest.mark.parametrize(
    ("source", "name", "hint"),
    [
        ("sklearn", "irsi", "did you mean 'iris'?"),
        ("keras", "mnst", "did you mean 'mnist'?"),
        ("synthetic", "spiarl", "did you mean 'spiral'?"),
    ],
)
def test_unknown_dataset_is_reported_with_the_other_problems(tmp_path, source, name, hint):
    path = write(tmp_path, f"data: {{source: {source}, name: {name}}}\ntraner: {{}}\n")
    err = config_error(path)
    find_problem(err, f"{path}:1:", " data.name: ", f"unknown {source} dataset '{name}'", hint)
    find_problem(err, f"{path}:2:1: ", " traner: ", "did you mean 'training'?")
