"""Cross-field checks, each alone, and ``plan.resolve`` filling the ``auto`` values.

Every named check in ``checks.FILE_CHECKS`` and ``checks.DATA_CHECKS`` has a ``test_<name>`` here
with cases that pass and cases that fail, and the severity of each problem asserted.
"""

from __future__ import annotations

import pytest
import yaml

from dlcli.config import checks
from dlcli.config.checks import Problem
from dlcli.config.load import load_config_text
from dlcli.config.resolve import resolve
from dlcli.config.schema import Config, LossSpec, OutputConfig
from dlcli.errors import ConfigError

DIGITS = "data: {source: sklearn, name: digits}\n"
N_CLASSES = {"binary": 2, "multiclass": 10, "regression": None}


def load(text: str) -> Config:
    """A config through the full loader (file checks included)."""
    return load_config_text(text, "x.yaml")


def unchecked(text: str) -> Config:
    """Phase one only: the pydantic model without the cross-field checks, so a check can be run alone."""
    return Config.model_validate(yaml.safe_load(text))


def paths(problems: list[Problem]) -> list[tuple]:
    return [p.path for p in problems]


def only(problems: list[Problem], severity: str) -> Problem:
    """The single problem reported, asserting its severity."""
    assert len(problems) == 1, problems
    assert problems[0].severity == severity
    return problems[0]


def test_every_named_check_has_its_own_test():
    for check in checks.FILE_CHECKS + checks.DATA_CHECKS:
        assert callable(globals().get(f"test_{check.__name__}")), f"no test_{check.__name__} in {__name__}"


def test_problem_severity_defaults_to_error():
    assert Problem(("loss",), "m").severity == "error"
    assert checks.warning(("loss",), "m") == Problem(("loss",), "m", "warning")


# -- file checks ---------------------------------------------------------------------------------


def schema_problems(text: str) -> list[str]:
    """What validating the file against the schema reports (the sources' own models), as located lines."""
    from pydantic import ValidationError

    from dlcli.config.messages import describe
    from dlcli.config.yamlpos import load_yaml

    located = load_yaml(text, "x.yaml")
    try:
        Config.model_validate(located.data)
    except ValidationError as exc:
        return describe(exc, located)
    return []


def key_paths(lines: list[str]) -> list[tuple]:
    """The key path each located line is about: ``x.yaml:1:7: data.name: ...`` -> ("data", "name")."""
    return [tuple(line.split(": ")[1].split(".")) for line in lines]


@pytest.mark.parametrize(
    "text",
    [
        DIGITS,
        "data: {source: csv, path: t.csv, target: y}\n",
        "data: {source: csv, path: t.csv, target: y, features: [a, b], test_path: u.csv}\n",
        "data: {source: npz, path: m.npz, test_path: t.npz}\n",
    ],
)
def test_each_source_accepts_its_complete_keys(text):
    assert schema_problems(text) == []


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
    ],
)
def test_each_source_needs_its_keys_and_takes_no_other(text, expected):
    problems = schema_problems(text)
    assert key_paths(problems) == expected
    assert all("warning" not in p for p in problems)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "data: {source: sklearn, nmae: iris}\n",
            ["x.yaml:1:25: data.nmae: unknown key 'nmae' (did you mean 'name'?)"],
        ),
        (
            "data: {source: cvs, path: a.csv, trget: y}\n",
            [
                "x.yaml:1:16: data.source: expected one of sklearn, csv, parquet, jsonl, npz, npy, keras, synthetic; "
                "got 'cvs' (did you mean 'csv'?)",
                "x.yaml:1:34: data.trget: unknown key 'trget' (did you mean 'target'?)",
            ],
        ),
        (
            "data: {path: 5}\n",
            ["data.source: required key is missing", "x.yaml:1:14: data.path: expected a string; got 5"],
        ),
    ],
)
def test_one_line_per_mistake_under_data(text, expected):
    problems = schema_problems(text)
    assert len(problems) == len(expected), problems
    for line, fragment in zip(problems, expected, strict=True):
        assert fragment in line


def test_source_key_messages():
    (missing,) = schema_problems("data: {source: csv, path: t.csv}\n")
    assert "source 'csv' needs 'target'" in missing
    (ignored,) = schema_problems("data: {source: csv, path: t.csv, target: y, name: x}\n")
    assert "not used by source 'csv'" in ignored


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("data: {source: csv, path: t.csv, target: y}\n", []),
        ("data: {source: csv, path: t.csv, target: y, features: [a, y]}\n", [("data", "features")]),
        ("data: {source: csv, path: t.csv, target: y, categorical: [y]}\n", [("data", "categorical")]),
        ("data: {source: csv, path: t.csv, target: y, embedding: {y: 2}}\n", [("data", "embedding", "y")]),
        ("data: {source: csv, path: t.csv, target: y, features: [a], categorical: [b]}\n", [("data", "categorical")]),
        (DIGITS, []),
    ],
)
def test_table_columns(text, expected):
    problems = checks.table_columns(unchecked(text))
    assert paths(problems) == expected
    assert {p.severity for p in problems} <= {"error"}


@pytest.mark.parametrize(
    ("training", "validation_split", "expected"),
    [
        ("{early_stopping: true}", 0.1, []),
        ("{}", 0, []),
        ("{early_stopping: false}", 0, []),
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
        assert "validation_split is 0" in only(problems, "error").message


@pytest.mark.parametrize(
    ("training", "expected"),
    [
        ("{reduce_lr_on_plateau: true}", [("training", "reduce_lr_on_plateau", "monitor")]),
        ("{reduce_lr_on_plateau: {monitor: val_accuracy}}", [("training", "reduce_lr_on_plateau", "monitor")]),
        ("{reduce_lr_on_plateau: {monitor: loss}}", []),
        ("{reduce_lr_on_plateau: false}", []),
        ("{checkpoint: true}", [("training", "checkpoint", "monitor")]),
        ("{checkpoint: {monitor: val_accuracy, mode: max}}", [("training", "checkpoint", "monitor")]),
        ("{checkpoint: {monitor: accuracy}}", []),
        ("{checkpoint: false}", []),
        (
            "{early_stopping: true, reduce_lr_on_plateau: true, checkpoint: true}",
            [
                ("training", "early_stopping", "monitor"),
                ("training", "reduce_lr_on_plateau", "monitor"),
                ("training", "checkpoint", "monitor"),
            ],
        ),
        (
            "{early_stopping: {monitor: loss}, reduce_lr_on_plateau: {monitor: val_loss}, checkpoint: {monitor: loss}}",
            [("training", "reduce_lr_on_plateau", "monitor")],
        ),
    ],
)
def test_early_stopping_monitor_covers_every_monitored_section(training, expected):
    text = f"data: {{source: sklearn, name: digits, validation_split: 0}}\ntraining: {training}\n"
    problems = checks.early_stopping_monitor(unchecked(text))
    assert paths(problems) == expected
    for problem in problems:
        assert problem.severity == "error"
        assert "needs validation data but data.validation_split is 0" in problem.message
        assert "monitor 'loss'" in problem.message


def test_early_stopping_monitor_names_the_monitor_of_each_section():
    text = (
        "data: {source: sklearn, name: digits, validation_split: 0}\n"
        "training: {reduce_lr_on_plateau: {monitor: val_loss}, checkpoint: {monitor: val_accuracy}}\n"
    )
    plateau, best = checks.early_stopping_monitor(unchecked(text))
    assert plateau.message.startswith("'val_loss' needs validation data")
    assert best.message.startswith("'val_accuracy' needs validation data")


@pytest.mark.parametrize("training", ["{early_stopping: true}", "{reduce_lr_on_plateau: true}", "{checkpoint: true}"])
def test_early_stopping_monitor_accepts_a_validation_file(training):
    text = (
        "data: {source: csv, path: t.csv, target: y, validation_split: 0, validation_path: v.csv}\n"
        f"training: {training}\n"
    )
    assert checks.early_stopping_monitor(unchecked(text)) == []


def test_early_stopping_monitor_error_is_located_for_every_section():
    text = DIGITS.replace("}", ", validation_split: 0}") + "training:\n  checkpoint: {monitor: val_loss}\n"
    with pytest.raises(ConfigError) as info:
        load(text)
    (problem,) = info.value.problems
    assert problem.startswith("x.yaml:3:25: training.checkpoint.monitor: 'val_loss' needs validation data")


SCHEDULE = "optimizer: {name: adam, schedule: {name: cosine_decay}}\n"


@pytest.mark.parametrize(
    ("text", "reported"),
    [
        (DIGITS, False),
        (DIGITS + SCHEDULE, False),
        (DIGITS + "training: {reduce_lr_on_plateau: true}\n", False),
        (DIGITS + "optimizer: sgd\ntraining: {reduce_lr_on_plateau: true}\n", False),
        (DIGITS + SCHEDULE + "training: {reduce_lr_on_plateau: false}\n", False),
        (DIGITS + SCHEDULE + "training: {reduce_lr_on_plateau: true}\n", True),
        (
            DIGITS
            + "optimizer: {name: sgd, schedule: {name: constant, warmup_steps: 10}}\n"
            + "training: {reduce_lr_on_plateau: {monitor: loss, factor: 0.1}}\n",
            True,
        ),
    ],
)
def test_schedule_with_plateau(text, reported):
    problems = checks.schedule_with_plateau(unchecked(text))
    if not reported:
        assert problems == []
        return
    problem = only(problems, "error")
    assert problem.path == ("training", "reduce_lr_on_plateau")
    assert problem.message == "cannot lower a learning rate that optimizer.schedule sets; use one of the two"


def test_schedule_with_plateau_stops_the_loader_with_a_location():
    with pytest.raises(ConfigError) as info:
        load(DIGITS + SCHEDULE + "training:\n  reduce_lr_on_plateau: {patience: 1}\n")
    (problem,) = info.value.problems
    assert problem.startswith("x.yaml:4:25: training.reduce_lr_on_plateau: cannot lower a learning rate")


@pytest.mark.parametrize(
    ("head", "output", "expected"),
    [
        ("task: regression\n", "{units: 1, activation: linear}", []),
        ("task: regression\n", "auto", []),
        ("task: regression\n", "{units: 1, activation: relu}", []),
        ("task: regression\n", "{units: 1, activation: sigmoid}", [("model", "output", "activation")]),
        ("task: regression\n", "{activation: softmax}", [("model", "output", "activation")]),
        ("task: regression\n", "{activation: log_softmax}", [("model", "output", "activation")]),
        ("task: auto\n", "{units: 1, activation: sigmoid}", []),
        ("task: binary\n", "{units: 1, activation: sigmoid}", []),
    ],
)
def test_regression_output(head, output, expected):
    problems = checks.regression_output(unchecked(head + DIGITS + f"model: {{output: {output}}}\n"))
    assert paths(problems) == expected
    if problems:
        assert "task is regression; use linear" in only(problems, "error").message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("data: {source: csv, path: t.csv, target: y}\ntraining: {cross_validation: {folds: 3}}\n", []),
        ("data: {source: csv, path: t.csv, target: y}\ntraining: {cross_validation: {folds: 3, group: g}}\n", []),
        (DIGITS + "training: {cross_validation: true, distribution: mirrored}\n", [("training", "cross_validation")]),
        ("data: {source: csv, path: t.csv, target: y, streaming: true}\ntraining: {cross_validation: true}\n",
         [("data", "streaming")]),
        ("data: {source: csv, path: t.csv, target: y}\ntraining: {cross_validation: {group: y}}\n",
         [("training", "cross_validation", "group")]),
        (DIGITS + "training: {cross_validation: {group: id}}\n", [("training", "cross_validation", "group")]),
        ("data: {source: csv, path: t.csv, target: y, streaming: true}\n", []),
    ],
)  # fmt: skip
def test_cross_validation_fits(text, expected):
    assert paths(checks.cross_validation_fits(unchecked(text))) == expected


def test_check_config_runs_every_file_check():
    text = (
        "task: regression\n"
        "data: {source: csv, path: t.csv, target: y, features: [a, y], validation_split: 0}\n"
        "model: {output: {units: 1, activation: sigmoid}}\n"
        "training: {early_stopping: true}\n"
    )
    assert paths(checks.check_config(unchecked(text))) == [
        ("data", "features"),
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
        # dlcli one-hots the labels for a categorical loss (one_hot_loss_on_binary checks the units)
        ("categorical_crossentropy", "multiclass", None),
        ("{name: CategoricalCrossentropy, from_logits: true}", "binary", None),
        ("sparse_categorical_crossentropy", "regression", "is a classification loss"),
        ("BinaryCrossentropy", "regression", "is a classification loss"),
        ("categorical_crossentropy", "regression", "is a classification loss"),
        ("mse", "multiclass", "is a regression loss"),
        ("MeanAbsolutePercentageError", "binary", "is a regression loss"),
        ("{name: mse, from_logits: true}", "binary", "is a regression loss"),
        ("{name: huber, delta: 2.0}", "multiclass", "is a regression loss"),
    ],
)
def test_loss_matches_task(loss, task, fragment):
    problems = checks.loss_matches_task(load(DIGITS + f"loss: {loss}\n"), task, N_CLASSES[task])
    if fragment is None:
        assert problems == []
    else:
        problem = only(problems, "error")
        assert problem.path == ("loss",)
        assert fragment in problem.message


@pytest.mark.parametrize(
    ("output", "loss"),
    [
        ("auto", "mean_squared_error"),
        ("auto", "mse"),
        ("{units: 1, activation: sigmoid}", "mean_squared_error"),
        ("{activation: sigmoid}", "MeanSquaredError"),
        ("auto", "mean_absolute_error"),
        ("{units: 1, activation: sigmoid}", "mae"),
    ],
)
def test_loss_matches_task_warns_of_squared_error_on_one_sigmoid_unit(output, loss):
    config = load(DIGITS + f"model: {{output: {output}}}\nloss: {loss}\n")
    problem = only(checks.loss_matches_task(config, "binary", 2), "warning")
    assert problem.path == ("loss",)
    assert "on one sigmoid unit trains" in problem.message and "binary_crossentropy" in problem.message


@pytest.mark.parametrize(
    "output", ["{units: 1, activation: linear}", "{units: 1, activation: tanh}", "{units: 2, activation: softmax}"]
)
def test_loss_matches_task_refuses_squared_error_on_other_binary_outputs(output):
    config = load(DIGITS + f"model: {{output: {output}}}\nloss: mean_squared_error\n")
    problem = only(checks.loss_matches_task(config, "binary", 2), "error")
    assert "is a regression loss" in problem.message


@pytest.mark.parametrize(
    ("loss", "output", "task", "reported"),
    [
        ("categorical_crossentropy", "auto", "binary", False),  # output auto becomes 2 softmax units
        ("{name: categorical_crossentropy, from_logits: true}", "auto", "binary", False),
        ("categorical_crossentropy", "{units: 1}", "binary", True),
        ("{name: categorical_crossentropy, from_logits: true}", "{units: 1, activation: linear}", "binary", True),
        ("kl_divergence", "{units: 1, activation: sigmoid}", "binary", True),
        ("categorical_crossentropy", "{units: 2, activation: softmax}", "binary", False),
        ("categorical_crossentropy", "auto", "multiclass", False),
        ("CategoricalCrossentropy", "{units: 10, activation: softmax}", "multiclass", False),
        ("categorical_focal_crossentropy", "auto", "multiclass", False),
        ("categorical_hinge", "auto", "multiclass", False),
        ("kl_divergence", "auto", "multiclass", False),
        ("binary_crossentropy", "auto", "binary", False),
        ("categorical_crossentropy", "auto", "regression", False),
    ],
)
def test_one_hot_loss_on_binary(loss, output, task, reported):
    config = load(DIGITS + f"model: {{output: {output}}}\nloss: {loss}\n")
    problems = checks.one_hot_loss_on_binary(config, task, N_CLASSES[task])
    if not reported:
        assert problems == []
        return
    problem = only(problems, "error")
    assert problem.path == ("loss",)
    assert "the output has 1 unit; use binary_crossentropy" in problem.message


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
        problem = only(problems, "error")
        assert problem.path == ("model", "output", "units")
        assert fragment in problem.message


@pytest.mark.parametrize(
    ("output", "loss", "task", "expected", "fragment"),
    [
        ("auto", "auto", "binary", None, None),
        ("{units: 1, activation: sigmoid}", "auto", "binary", None, None),
        ("{units: 2, activation: softmax}", "auto", "binary", None, None),
        ("{units: 2, activation: softmax}", "sparse_categorical_crossentropy", "binary", None, None),
        ("{activation: softmax}", "auto", "multiclass", None, None),
        ("{activation: linear}", "mse", "regression", None, None),
        ("{activation: sigmoid}", "mse", "regression", None, None),  # regression_output's business
        ("{units: 1, activation: softmax}", "auto", "binary", ("model", "output", "activation"), "softmax over 1 unit"),
        ("{activation: sigmoid}", "auto", "multiclass", ("model", "output", "activation"), "sigmoid scores 10"),
        ("{units: 2, activation: softmax}", "binary_crossentropy", "binary", ("loss",), "with a softmax output"),
        ("{activation: softmax}", "binary_crossentropy", "binary", ("loss",), "softmax output over 2 units"),
    ],
)
def test_output_activation_matches(output, loss, task, expected, fragment):
    config = load(DIGITS + f"model: {{output: {output}}}\nloss: {loss}\n")
    problems = checks.output_activation_matches(config, task, N_CLASSES[task])
    if expected is None:
        assert problems == []
    else:
        problem = only(problems, "error")
        assert problem.path == expected
        assert fragment in problem.message


def test_output_activation_matches_binary_loss_over_an_auto_softmax():
    problems = checks.check_against_data(load(DIGITS + "loss: binary_crossentropy\n"), "multiclass", 10)
    problem = only(problems, "error")
    assert problem.path == ("loss",)
    assert "binary_crossentropy" in problem.message


@pytest.mark.parametrize(
    ("output", "loss", "task", "severity", "path", "fragment"),
    [
        ("{activation: linear}", "sparse_categorical_crossentropy", "multiclass", "error", ("loss",), "expects prob"),
        ("{activation: linear}", "{name: sparse_categorical_crossentropy, from_logits: false}", "multiclass",
         "error", ("loss",), "from_logits: true}"),
        ("{units: 1, activation: linear}", "binary_crossentropy", "binary", "error", ("loss",), "(logits)"),
        ("{activation: softmax}", "{name: sparse_categorical_crossentropy, from_logits: true}", "multiclass",
         "warning", ("loss", "from_logits"), "already applies softmax"),
        ("{units: 1, activation: sigmoid}", "{name: binary_crossentropy, from_logits: true}", "binary",
         "warning", ("loss", "from_logits"), "already applies sigmoid"),
        ("{activation: linear}", "{name: sparse_categorical_crossentropy, from_logits: true}", "multiclass",
         None, None, None),
        ("{activation: linear}", "auto", "multiclass", None, None, None),  # resolve adds from_logits itself
        ("{activation: linear}", "mse", "regression", None, None, None),
        ("{activation: softmax}", "sparse_categorical_crossentropy", "multiclass", None, None, None),
        ("auto", "sparse_categorical_crossentropy", "multiclass", None, None, None),
        ("{activation: relu}", "sparse_categorical_crossentropy", "multiclass", None, None, None),
    ],
)  # fmt: skip
def test_logits_match_loss(output, loss, task, severity, path, fragment):
    config = load(DIGITS + f"model: {{output: {output}}}\nloss: {loss}\n")
    problems = checks.logits_match_loss(config, task, N_CLASSES[task])
    if severity is None:
        assert problems == []
    else:
        problem = only(problems, severity)
        assert problem.path == path
        assert fragment in problem.message


@pytest.mark.parametrize("output", ["auto", "{units: 10}"])
def test_logits_loss_with_an_auto_output_is_not_squashed_twice(output, capsys):
    config = load(
        DIGITS + f"model: {{output: {output}}}\nloss: {{name: sparse_categorical_crossentropy, from_logits: true}}\n"
    )
    resolved = resolve(config, "multiclass", 10)
    assert resolved.model.output.activation == "linear" or "applies it twice" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("metrics", "output", "task", "expected"),
    [
        ("auto", "auto", "multiclass", []),
        ("auto", "auto", "regression", []),
        ("[accuracy, sparse_categorical_accuracy, sparse_top_k_categorical_accuracy]", "auto", "multiclass", []),
        ("[auc]", "auto", "multiclass", [("error", 0, "'auc' cannot score this output (10 classes)")]),
        ("[accuracy, precision]", "auto", "multiclass", [("error", 1, "'precision' cannot score")]),
        ("[{name: AUC}]", "auto", "multiclass", [("error", 0, "'auc' cannot score")]),
        ("[categorical_accuracy]", "auto", "multiclass", [("warning", 0, "runs but means little here (10 classes)")]),
        ("[CategoricalAccuracy, recall]", "auto", "multiclass",
         [("warning", 0, "'categorical_accuracy' runs"), ("error", 1, "'recall' cannot score")]),
        ("[accuracy, auc, precision, recall, binary_accuracy]", "auto", "binary", []),
        ("[f1_score]", "auto", "binary", [("error", 0, "cannot score this output (one sigmoid unit)")]),
        ("[r2_score]", "auto", "binary", [("error", 0, "use accuracy, auc, precision or recall")]),
        ("[categorical_accuracy]", "auto", "binary", [("warning", 0, "means little here (one sigmoid unit)")]),
        ("[mae]", "auto", "binary", [("warning", 0, "'mae' runs but means little")]),
        ("[auc]", "{activation: softmax}", "binary", [("error", 0, "cannot score this output (2 classes)")]),
        ("[mae, mse, rmse, r2, root_mean_squared_error]", "auto", "regression", []),
        ("[accuracy]", "auto", "regression", [("error", 0, "'accuracy' needs classes but the target is continuous")]),
        ("[mae, auc]", "auto", "regression", [("error", 1, "'auc' needs classes")]),
    ],
)  # fmt: skip
def test_metrics_match_task(metrics, output, task, expected):
    config = load(DIGITS + f"model: {{output: {output}}}\nmetrics: {metrics}\n")
    problems = checks.metrics_match_task(config, task, N_CLASSES[task])
    assert [(p.severity, p.path) for p in problems] == [(s, ("metrics", i)) for s, i, _ in expected]
    for problem, (_, _, fragment) in zip(problems, expected, strict=True):
        assert fragment in problem.message


@pytest.mark.parametrize(
    ("metrics", "expected"),
    [
        ("[accuracy, categorical_accuracy, top_k_categorical_accuracy, kl_divergence]", []),
        ("[accuracy, sparse_categorical_accuracy]", [(1, "reads class indices but 'categorical_crossentropy'")]),
        ("[sparse_top_k_categorical_accuracy]", [(0, "use accuracy or categorical_accuracy")]),
    ],
)
def test_metrics_match_task_with_one_hot_targets(metrics, expected):
    config = load(DIGITS + f"loss: categorical_crossentropy\nmetrics: {metrics}\n")
    problems = checks.metrics_match_task(config, "multiclass", 10)
    assert [(p.severity, p.path) for p in problems] == [("error", ("metrics", i)) for i, _ in expected]
    for problem, (_, fragment) in zip(problems, expected, strict=True):
        assert fragment in problem.message


@pytest.mark.parametrize(
    ("head", "training", "task", "expected"),
    [
        ("", "{early_stopping: true}", "multiclass", []),
        ("", "{early_stopping: {monitor: val_accuracy}}", "multiclass", []),
        ("", "{early_stopping: {monitor: accuracy}, checkpoint: {monitor: loss}}", "multiclass", []),
        ("", "{reduce_lr_on_plateau: {monitor: val_loss}, checkpoint: {monitor: val_accuracy}}", "binary", []),
        ("metrics: [accuracy, auc]\n", "{checkpoint: {monitor: val_auc, mode: max}}", "binary", []),
        ("", "{}", "regression", []),
        # without validation data a val_* monitor is early_stopping_monitor's business, not reported twice
        ("", "{early_stopping: {monitor: val_accuracy}}", "multiclass-no-validation", []),
        (
            "",
            "{early_stopping: {monitor: val_acuracy}}",
            "multiclass",
            [(("training", "early_stopping", "monitor"),
              "'val_acuracy' is not logged by this training (did you mean 'val_accuracy'?); "
              "logged: loss, accuracy, val_loss, val_accuracy")],
        ),
        (
            "",
            "{early_stopping: {monitor: val_accuracy}}",
            "regression",
            [(("training", "early_stopping", "monitor"), "'val_accuracy' is not logged by this training")],
        ),
        (
            "metrics: [mae, rmse, r2]\n",
            "{checkpoint: {monitor: val_rmse}}",
            "regression",  # rmse and r2 are computed on the test split only, never logged per epoch
            [(("training", "checkpoint", "monitor"), "'val_rmse' is not logged by this training")],
        ),
        (
            "",
            "{reduce_lr_on_plateau: {monitor: lr}}",
            "multiclass",
            [(("training", "reduce_lr_on_plateau", "monitor"), "'lr' is not logged by this training")],
        ),
        (
            "",
            "{early_stopping: {monitor: val_f1}, reduce_lr_on_plateau: {monitor: loss}, checkpoint: {monitor: f1}}",
            "multiclass",
            [
                (("training", "early_stopping", "monitor"), "'val_f1' is not logged"),
                (("training", "checkpoint", "monitor"), "'f1' is not logged"),
            ],
        ),
    ],
)  # fmt: skip
def test_monitors_are_logged(head, training, task, expected):
    split = 0 if task.endswith("-no-validation") else 0.1
    task = task.removesuffix("-no-validation")
    text = f"data: {{source: sklearn, name: digits, validation_split: {split}}}\n{head}training: {training}\n"
    problems = checks.monitors_are_logged(unchecked(text), task, N_CLASSES[task])
    assert [(p.severity, p.path) for p in problems] == [("error", path) for path, _ in expected]
    for problem, (_, fragment) in zip(problems, expected, strict=True):
        assert fragment in problem.message


def test_monitors_are_logged_counts_a_validation_file_as_validation():
    text = (
        "data: {source: csv, path: t.csv, target: y, validation_split: 0, validation_path: v.csv}\n"
        "training: {early_stopping: {monitor: val_accuracy}, checkpoint: {monitor: val_acc}}\n"
    )
    problem = only(checks.monitors_are_logged(unchecked(text), "multiclass", 3), "error")
    assert problem.path == ("training", "checkpoint", "monitor")
    assert problem.message.endswith("logged: loss, accuracy, val_loss, val_accuracy")


def test_logged_names():
    assert checks.logged_names(load(DIGITS), "multiclass") == ["loss", "accuracy", "val_loss", "val_accuracy"]
    no_validation = load(DIGITS.replace("}", ", validation_split: 0}") + "metrics: [accuracy, {name: auc}]\n")
    assert checks.logged_names(no_validation, "binary") == ["loss", "accuracy", "auc"]


def test_monitors_are_logged_uses_the_names_keras_logs(tmp_path):
    # Keras logs metrics: [mae] as mean_absolute_error / val_mean_absolute_error (see history.csv of a
    # diabetes run); the alias val_mae is accepted and handed to the callback under the logged name.
    from dlcli.training import callbacks

    def problems(monitor):
        text = DIGITS + f"metrics: [mae]\ntraining: {{early_stopping: {{monitor: {monitor}, mode: min}}}}\n"
        return checks.monitors_are_logged(unchecked(text), "regression", None)

    assert problems("val_mean_absolute_error") == []
    assert problems("val_mae") == []
    assert paths(problems("val_mse")) == [("training", "early_stopping", "monitor")]
    config = unchecked(DIGITS + "metrics: [mae]\ntraining: {early_stopping: {monitor: val_mae}}\n")
    assert callbacks.configured(config, tmp_path)["early_stopping"].monitor == "val_mean_absolute_error"


def test_monitors_are_logged_stops_resolve_with_a_location():
    config = load(DIGITS + "training:\n  early_stopping: {monitor: val_acc}\n")
    with pytest.raises(ConfigError) as info:
        resolve(config, "multiclass", 10)
    (problem,) = info.value.problems
    assert problem.startswith("x.yaml:3:29: training.early_stopping.monitor: 'val_acc' is not logged")


@pytest.mark.parametrize(
    ("class_weight", "task", "reported"),
    [
        ("balanced", "multiclass", False),
        ("balanced", "binary", False),
        ("{0: 2.0, 3: 0.5}", "multiclass", False),
        ("null", "regression", False),
        ("balanced", "regression", True),
        ("{0: 2.0}", "regression", True),
    ],
)
def test_class_weight_fits_task(class_weight, task, reported):
    config = load(DIGITS + f"training: {{class_weight: {class_weight}}}\n")
    problems = checks.class_weight_fits_task(config, task, N_CLASSES[task])
    if not reported:
        assert problems == []
        return
    problem = only(problems, "error")
    assert problem.path == ("training", "class_weight")
    assert problem.message == "weights classes, but the target is continuous; remove it"


def test_class_weight_fits_task_stops_resolve_with_a_location():
    config = load("data: {source: sklearn, name: diabetes}\ntraining:\n  class_weight: balanced\n")
    with pytest.raises(ConfigError) as info:
        resolve(config, "regression", None)
    (problem,) = info.value.problems
    assert problem == "x.yaml:3:17: training.class_weight: weights classes, but the target is continuous; remove it"


@pytest.mark.parametrize(
    ("scale_target", "task", "reported"),
    [
        ("true", "regression", False),
        ("auto", "binary", False),
        ("false", "multiclass", False),
        ("true", "binary", True),
        ("true", "multiclass", True),
    ],
)
def test_scale_target_fits_task(scale_target, task, reported):
    config = load(f"data: {{source: sklearn, name: digits, scale_target: {scale_target}}}\n")
    problems = checks.scale_target_fits_task(config, task, N_CLASSES[task])
    if not reported:
        assert problems == []
        return
    problem = only(problems, "warning")
    assert problem.path == ("data", "scale_target")
    assert problem.message == f"scales a regression target, but the task is {task}; ignored"


def test_scale_target_on_classes_is_a_located_warning_and_resolves_off(capsys):
    config = load("data:\n  source: sklearn\n  name: digits\n  scale_target: true\n")
    resolved = resolve(config, "multiclass", 10)
    assert resolved.data.scale_target is False and not resolved.scales_target
    assert capsys.readouterr().err.strip() == (
        "x.yaml:4:17: data.scale_target: warning: scales a regression target, but the task is multiclass; ignored"
    )


def test_check_against_data_collects_every_data_check():
    config = load(
        DIGITS
        + "model: {output: {units: 3, activation: sigmoid}}\nloss: mse\n"
        + "metrics: [auc, categorical_accuracy]\n"
    )
    problems = checks.check_against_data(config, "multiclass", 10)
    assert [(p.path, p.severity) for p in problems] == [
        (("loss",), "error"),
        (("model", "output", "units"), "error"),
        (("model", "output", "activation"), "error"),
        (("metrics", 0), "error"),
        (("metrics", 1), "warning"),
    ]
    assert checks.check_against_data(load(DIGITS), "multiclass", 10) == []


# -- resolve -----------------------------------------------------------------------------------


def output_of(resolved) -> tuple:
    """The output layer, as the resolved type has it and as the saved config writes it (the two agree)."""
    out = resolved.config.model.output
    assert isinstance(out, OutputConfig)
    assert (resolved.output.units, resolved.output.activation) == (out.units, out.activation)
    return out.units, out.activation


def loss_of(resolved):
    """The loss as the saved config writes it (a name, or a LossSpec with parameters); the typed one agrees."""
    saved = resolved.config.loss
    assert resolved.loss.name == (saved if isinstance(saved, str) else saved.name)
    assert resolved.loss.params == ({} if isinstance(saved, str) else saved.model_extra)
    return saved


def metrics_of(resolved) -> list:
    assert [m.name for m in resolved.metrics] == list(resolved.config.metrics)
    return resolved.config.metrics


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
    resolved = resolve(load(DIGITS), task, n_classes)
    assert resolved.task == task
    assert output_of(resolved) == output
    assert loss_of(resolved) == loss
    assert metrics_of(resolved) == metrics


def test_resolve_keeps_explicit_choices():
    config = load(DIGITS + "loss: huber\nmetrics: [mse]\nmodel: {output: {units: 1, activation: relu}}\n")
    resolved = resolve(config, "regression", None)
    assert (loss_of(resolved), metrics_of(resolved), output_of(resolved)) == ("huber", ["mse"], (1, "relu"))


def test_resolve_binary_softmax_gets_two_units():
    resolved = resolve(load(DIGITS + "model: {output: {activation: softmax}}\n"), "binary", 2)
    assert output_of(resolved) == (2, "softmax")
    assert loss_of(resolved) == "sparse_categorical_crossentropy"


def test_resolve_binary_two_units_gets_softmax():
    resolved = resolve(load(DIGITS + "model: {output: {units: 2}}\n"), "binary", 2)
    assert output_of(resolved) == (2, "softmax")


@pytest.mark.parametrize(
    ("task", "n_classes", "loss"),
    [("multiclass", 10, "sparse_categorical_crossentropy"), ("binary", 2, "binary_crossentropy")],
)
def test_resolve_linear_output_with_auto_loss_uses_logits(task, n_classes, loss):
    resolved = resolve(load(DIGITS + "model: {output: {activation: linear}}\n"), task, n_classes)
    assert isinstance(loss_of(resolved), LossSpec)
    assert resolved.loss.name == loss
    assert loss_of(resolved).model_extra == {"from_logits": True}


def test_resolve_linear_output_with_plain_loss_is_an_error():
    config = load(DIGITS + "model: {output: {activation: linear}}\nloss: sparse_categorical_crossentropy\n")
    with pytest.raises(ConfigError) as info:
        resolve(config, "multiclass", 10)
    (problem,) = info.value.problems
    assert problem.startswith("x.yaml:3:7: loss: ")
    assert "from_logits: true" in problem


def test_resolve_linear_output_with_logits_loss_is_fine():
    config = load(
        DIGITS
        + "model: {output: {activation: linear}}\nloss: {name: sparse_categorical_crossentropy, from_logits: true}\n"
    )
    assert loss_of(resolve(config, "multiclass", 10)).model_extra == {"from_logits": True}


def test_resolve_linear_output_for_regression_needs_no_logits():
    config = load(DIGITS + "model: {output: {activation: linear}}\nloss: mse\n")
    assert loss_of(resolve(config, "regression", None)) == "mse"


@pytest.mark.parametrize(
    ("text", "task", "n_classes", "line", "key", "fragment"),
    [
        ("model:\n  output: {units: 3}\n", "multiclass", 10, 3, "model.output.units", "10 classes"),
        ("model:\n  output: {units: 2}\n", "regression", None, 3, "model.output.units", "set units: 1"),
        ("loss: mse\n", "multiclass", 10, 2, "loss", "regression loss"),
        ("loss: huber\n", "binary", 2, 2, "loss", "regression loss"),
        ("loss: log_cosh\n", "binary", 2, 2, "loss", "regression loss"),
        ("loss: sparse_categorical_crossentropy\n", "regression", None, 2, "loss", "classification loss"),
        ("loss: binary_crossentropy\n", "regression", None, 2, "loss", "classification loss"),
    ],
)
def test_resolve_rejects_mismatches_with_location(text, task, n_classes, line, key, fragment):
    with pytest.raises(ConfigError) as info:
        resolve(load(DIGITS + text), task, n_classes)
    (problem,) = info.value.problems
    assert problem.startswith(f"x.yaml:{line}:")
    assert f" {key}: " in problem
    assert fragment in problem


def test_resolve_keeps_the_origin_for_later_errors():
    resolved = resolve(load(DIGITS + "training:\n  epochs: 3\n"), "multiclass", 10)
    assert resolved.where(("training", "epochs")) == "x.yaml:3:11"


def test_resolve_prints_warnings_and_goes_on(capsys):
    config = load(DIGITS + "metrics: [accuracy, categorical_accuracy]\n")
    assert metrics_of(resolve(config, "multiclass", 10)) == ["accuracy", "categorical_accuracy"]
    (row,) = capsys.readouterr().err.splitlines()
    assert row.startswith("x.yaml:2:21: metrics[1]: warning: 'categorical_accuracy' runs but means little")


def test_resolve_raises_only_the_errors_when_there_are_warnings_too(capsys):
    config = load(DIGITS + "metrics: [categorical_accuracy, auc]\n")
    with pytest.raises(ConfigError) as info:
        resolve(config, "multiclass", 10)
    (problem,) = info.value.problems
    assert problem.startswith("x.yaml:2:33: metrics[1]: 'auc' cannot score")
    assert "warning" not in capsys.readouterr().err


def test_steps_per_execution_under_mirrored():
    def problems(training: str):
        return checks.steps_per_execution_under_mirrored(unchecked(DIGITS + f"training: {training}\n"))

    assert problems("{distribution: mirrored}") == []  # auto resolves to 1 under mirrored
    assert problems("{distribution: mirrored, steps_per_execution: 1}") == []
    assert problems("{steps_per_execution: 64}") == []
    problem = only(problems("{distribution: mirrored, steps_per_execution: 8}"), "error")
    assert problem.path == ("training", "steps_per_execution")
    assert "must be 1 (or auto) with distribution: mirrored" in problem.message
