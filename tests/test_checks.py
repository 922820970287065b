"""Cross-field checks, each alone, and ``plan.resolve`` filling the ``auto`` values."""

from __future__ import annotations

import pytest
import yaml

from dlcli import checks, plan
from dlcli.checks import Problem
from dlcli.config import Config, LossSpec, OutputConfig, load_config_text
from dlcli.errors import ConfigError

DIGITS = "data: {source: sklearn, name: digits}\n"


def load(text: str) -> Config:
    """A config through the full loader (file checks included)."""
    return load_config_text(text, "x.yaml")


def unchecked(text: str) -> Config:
    """Phase one only: the pydantic model without the cross-field checks, so a check can be run alone."""
    return Config.model_validate(yaml.safe_load(text))


def paths(problems: list[Problem]) -> list[tuple]:
    return [p.path for p in problems]


# -- file checks ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        DIGITS,
        "data: {source: csv, path: t.csv, target: y}\n",
        "data: {source: csv, path: t.csv, target: y, features: [a, b], test_path: u.csv}\n",
        "data: {source: npz, path: m.npz, test_path: t.npz}\n",
    ],
)
def test_source_fields_accepts_complete_sources(text):
    assert checks.source_fields(unchecked(text)) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("data: {source: sklearn}\n", [("data", "name")]),
        ("data: {source: csv}\n", [("data", "path"), ("data", "target")]),
        ("data: {source: csv, path: t.csv}\n", [("data", "target")]),
        ("data: {source: npz}\n", [("data", "path")]),
        ("data: {source: sklearn, name: iris, path: t.csv, target: y}\n", [("data", "path"), ("data", "target")]),
        ("data: {source: csv, path: t.csv, target: y, name: iris}\n", [("data", "name")]),
        ("data: {source: npz, path: m.npz, target: y, features: [a]}\n", [("data", "target"), ("data", "features")]),
        ("data: {source: sklearn, name: mnist}\n", [("data", "name")]),
        ("data: {source: csv, path: t.csv, target: y, features: [a, y]}\n", [("data", "features")]),
    ],
)
def test_source_fields_problems(text, expected):
    assert paths(checks.source_fields(unchecked(text))) == expected


def test_source_fields_messages():
    (missing,) = checks.source_fields(unchecked("data: {source: csv, path: t.csv}\n"))
    assert "source 'csv' needs 'target'" in missing.message
    (ignored,) = checks.source_fields(unchecked("data: {source: csv, path: t.csv, target: y, name: x}\n"))
    assert "not used by source 'csv'" in ignored.message
    (unknown,) = checks.source_fields(unchecked("data: {source: sklearn, name: irsi}\n"))
    assert "did you mean 'iris'?" in unknown.message
    assert "iris, digits, wine, breast_cancer, diabetes" in unknown.message


@pytest.mark.parametrize(
    ("training", "validation_split", "expected"),
    [
        ("{early_stopping: true}", 0.1, []),
        ("{}", 0, []),
        ("{early_stopping: true}", 0, [("training", "early_stopping", "monitor")]),
        ("{early_stopping: {monitor: val_accuracy}}", 0, [("training", "early_stopping", "monitor")]),
        ("{early_stopping: {monitor: loss}}", 0, []),
    ],
)
def test_early_stopping_monitor(training, validation_split, expected):
    text = f"data: {{source: sklearn, name: digits, validation_split: {validation_split}}}\ntraining: {training}\n"
    problems = checks.early_stopping_monitor(unchecked(text))
    assert paths(problems) == expected
    if problems:
        assert "validation_split is 0" in problems[0].message


@pytest.mark.parametrize(
    ("head", "output", "expected"),
    [
        ("task: regression\n", "{units: 1, activation: linear}", []),
        ("task: regression\n", "auto", []),
        ("task: regression\n", "{units: 1, activation: sigmoid}", [("model", "output", "activation")]),
        ("task: regression\n", "{activation: softmax}", [("model", "output", "activation")]),
        ("task: auto\n", "{units: 1, activation: sigmoid}", []),
        ("task: binary\n", "{units: 1, activation: sigmoid}", []),
    ],
)
def test_regression_output(head, output, expected):
    config = unchecked(head + DIGITS + f"model: {{output: {output}}}\n")
    assert paths(checks.regression_output(config)) == expected


def test_check_config_runs_every_file_check():
    text = (
        "task: regression\n"
        "data: {source: csv, validation_split: 0}\n"
        "model: {output: {units: 1, activation: sigmoid}}\n"
        "training: {early_stopping: true}\n"
    )
    assert paths(checks.check_config(unchecked(text))) == [
        ("data", "path"),
        ("data", "target"),
        ("training", "early_stopping", "monitor"),
        ("model", "output", "activation"),
    ]
    assert checks.check_config(load(DIGITS)) == []


# -- loss_name and data checks -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("loss", "expected"),
    [
        ("auto", None),
        ("mse", "mse"),
        ("MeanSquaredError", "mean_squared_error"),
        ("SparseCategoricalCrossentropy", "sparse_categorical_crossentropy"),
        ("KLD", "kld"),
        (LossSpec(name="BinaryCrossentropy", from_logits=True), "binary_crossentropy"),
    ],
)
def test_loss_name(loss, expected):
    assert checks.loss_name(loss) == expected


@pytest.mark.parametrize(
    ("loss", "task", "fragment"),
    [
        ("auto", "regression", None),
        ("auto", "multiclass", None),
        ("mse", "regression", None),
        ("huber", "regression", None),
        ("sparse_categorical_crossentropy", "multiclass", None),
        ("binary_crossentropy", "binary", None),
        ("sparse_categorical_crossentropy", "regression", "is a classification loss"),
        ("BinaryCrossentropy", "regression", "is a classification loss"),
        ("mse", "multiclass", "is a regression loss"),
        ("MeanAbsoluteError", "binary", "is a regression loss"),
        ("categorical_crossentropy", "multiclass", "expects one-hot labels"),
        ("{name: CategoricalCrossentropy, from_logits: true}", "binary", "expects one-hot labels"),
    ],
)
def test_loss_matches_task(loss, task, fragment):
    problems = checks.loss_matches_task(load(DIGITS + f"loss: {loss}\n"), task, 10)
    if fragment is None:
        assert problems == []
    else:
        (problem,) = problems
        assert problem.path == ("loss",)
        assert fragment in problem.message


@pytest.mark.parametrize(
    ("output", "task", "n_classes", "fragment"),
    [
        ("auto", "multiclass", 10, None),
        ("{activation: softmax}", "multiclass", 10, None),
        ("{units: 10}", "multiclass", 10, None),
        ("{units: 3}", "multiclass", 10, "the target has 10 classes but the output has 3 units"),
        ("{units: 1}", "regression", None, None),
        ("{units: 2}", "regression", None, "regression predicts one value"),
        ("{units: 1}", "binary", 2, None),
        ("{units: 2}", "binary", 2, None),
        ("{units: 3}", "binary", 2, "a binary target needs 1 unit"),
    ],
)
def test_output_units_match(output, task, n_classes, fragment):
    problems = checks.output_units_match(load(DIGITS + f"model: {{output: {output}}}\n"), task, n_classes)
    if fragment is None:
        assert problems == []
    else:
        (problem,) = problems
        assert problem.path == ("model", "output", "units")
        assert fragment in problem.message


@pytest.mark.parametrize(
    ("output", "loss", "task", "expected", "fragment"),
    [
        ("auto", "auto", "binary", None, None),
        ("{units: 1, activation: sigmoid}", "auto", "binary", None, None),
        ("{units: 2, activation: softmax}", "auto", "binary", None, None),
        ("{activation: softmax}", "auto", "multiclass", None, None),
        ("{activation: linear}", "mse", "regression", None, None),
        ("{units: 1, activation: softmax}", "auto", "binary", ("model", "output", "activation"), "softmax over 1 unit"),
        ("{activation: sigmoid}", "auto", "multiclass", ("model", "output", "activation"), "sigmoid scores 10"),
        ("{units: 2, activation: softmax}", "binary_crossentropy", "binary", ("loss",), "with a softmax output"),
    ],
)
def test_output_activation_matches(output, loss, task, expected, fragment):
    config = load(DIGITS + f"model: {{output: {output}}}\nloss: {loss}\n")
    n_classes = {"binary": 2, "multiclass": 10, "regression": None}[task]
    problems = checks.output_activation_matches(config, task, n_classes)
    if expected is None:
        assert problems == []
    else:
        (problem,) = problems
        assert problem.path == expected
        assert fragment in problem.message


def test_check_against_data_collects_every_data_check():
    config = load(DIGITS + "model: {output: {units: 3, activation: sigmoid}}\nloss: categorical_crossentropy\n")
    assert paths(checks.check_against_data(config, "multiclass", 10)) == [
        ("loss",),
        ("model", "output", "units"),
        ("model", "output", "activation"),
    ]
    assert checks.check_against_data(load(DIGITS), "multiclass", 10) == []


# -- plan.resolve ----------------------------------------------------------------------------------


def output_of(config: Config) -> tuple:
    out = config.model.output
    assert isinstance(out, OutputConfig)
    return out.units, out.activation


@pytest.mark.parametrize(
    ("task", "n_classes", "output", "loss", "metrics"),
    [
        ("multiclass", 10, (10, "softmax"), "sparse_categorical_crossentropy", ["accuracy"]),
        ("multiclass", 3, (3, "softmax"), "sparse_categorical_crossentropy", ["accuracy"]),
        ("binary", 2, (1, "sigmoid"), "binary_crossentropy", ["accuracy"]),
        ("regression", None, (1, "linear"), "mean_squared_error", ["mae"]),
    ],
)
def test_resolve_auto(task, n_classes, output, loss, metrics):
    resolved = plan.resolve(load(DIGITS), task, n_classes)
    assert resolved.task == task
    assert output_of(resolved) == output
    assert resolved.loss == loss
    assert resolved.metrics == metrics


def test_resolve_keeps_explicit_choices():
    config = load(DIGITS + "loss: huber\nmetrics: [mse]\nmodel: {output: {units: 1, activation: relu}}\n")
    resolved = plan.resolve(config, "regression", None)
    assert (resolved.loss, resolved.metrics, output_of(resolved)) == ("huber", ["mse"], (1, "relu"))


def test_resolve_binary_softmax_gets_two_units():
    resolved = plan.resolve(load(DIGITS + "model: {output: {activation: softmax}}\n"), "binary", 2)
    assert output_of(resolved) == (2, "softmax")
    assert resolved.loss == "sparse_categorical_crossentropy"


def test_resolve_binary_two_units_gets_softmax():
    resolved = plan.resolve(load(DIGITS + "model: {output: {units: 2}}\n"), "binary", 2)
    assert output_of(resolved) == (2, "softmax")


@pytest.mark.parametrize(
    ("task", "n_classes", "loss"),
    [("multiclass", 10, "sparse_categorical_crossentropy"), ("binary", 2, "binary_crossentropy")],
)
def test_resolve_linear_output_with_auto_loss_uses_logits(task, n_classes, loss):
    resolved = plan.resolve(load(DIGITS + "model: {output: {activation: linear}}\n"), task, n_classes)
    assert isinstance(resolved.loss, LossSpec)
    assert resolved.loss.name == loss
    assert resolved.loss.model_extra == {"from_logits": True}


def test_resolve_linear_output_with_plain_loss_is_an_error():
    config = load(DIGITS + "model: {output: {activation: linear}}\nloss: sparse_categorical_crossentropy\n")
    with pytest.raises(ConfigError) as info:
        plan.resolve(config, "multiclass", 10)
    (problem,) = info.value.problems
    assert problem.startswith("x.yaml:3:7: loss: ")
    assert "from_logits: true" in problem


def test_resolve_linear_output_with_logits_loss_is_fine():
    config = load(
        DIGITS
        + "model: {output: {activation: linear}}\nloss: {name: sparse_categorical_crossentropy, from_logits: true}\n"
    )
    assert plan.resolve(config, "multiclass", 10).loss.model_extra == {"from_logits": True}


def test_resolve_linear_output_for_regression_needs_no_logits():
    config = load(DIGITS + "model: {output: {activation: linear}}\nloss: mse\n")
    assert plan.resolve(config, "regression", None).loss == "mse"


@pytest.mark.parametrize(
    ("text", "task", "n_classes", "line", "key", "fragment"),
    [
        ("model:\n  output: {units: 3}\n", "multiclass", 10, 3, "model.output.units", "10 classes"),
        ("model:\n  output: {units: 2}\n", "regression", None, 3, "model.output.units", "set units: 1"),
        ("loss: mse\n", "multiclass", 10, 2, "loss", "regression loss"),
        ("loss: mean_absolute_error\n", "binary", 2, 2, "loss", "regression loss"),
        ("loss: sparse_categorical_crossentropy\n", "regression", None, 2, "loss", "classification loss"),
        ("loss: binary_crossentropy\n", "regression", None, 2, "loss", "classification loss"),
    ],
)
def test_resolve_rejects_mismatches_with_location(text, task, n_classes, line, key, fragment):
    with pytest.raises(ConfigError) as info:
        plan.resolve(load(DIGITS + text), task, n_classes)
    (problem,) = info.value.problems
    assert problem.startswith(f"x.yaml:{line}:")
    assert f" {key}: " in problem
    assert fragment in problem


def test_resolve_keeps_the_origin_for_later_errors():
    resolved = plan.resolve(load(DIGITS + "training:\n  epochs: 3\n"), "multiclass", 10)
    assert resolved.where(("training", "epochs")) == "x.yaml:3:11"
