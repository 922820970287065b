"""Categorical table columns: encoded inside the model, so the saved model takes raw rows."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dlcli.config.load import load_config_text
from dlcli.config.resolve import resolve
from dlcli.data import load as data
from dlcli.errors import DataError
from dlcli.model import specs as layer_specs
from tests.conftest import CONFIGS, assert_same_metrics, invoke, train_json


@pytest.fixture(scope="module")
def churn_run(tmp_path_factory):
    return train_json(tmp_path_factory.mktemp("runs"), CONFIGS / "churn_csv.yaml", "training.epochs=3")[0]


def config_for(tmp_path, csv_text, extra=""):
    (tmp_path / "t.csv").write_text(csv_text)
    return load_config_text(f"data: {{path: t.csv, target: y{extra}}}\n", "c.yaml", base_dir=tmp_path)


def test_text_columns_become_categorical_with_a_training_vocabulary(tmp_path):
    rows = "\n".join(f"{i},{'ab'[i % 2]},{'xyz'[i % 3]},{i % 2}" for i in range(60))
    ds = data.load(config_for(tmp_path, "n,c1,c2,y\n" + rows + "\n"))
    assert set(ds.x_train) == {"numeric", "c1", "c2"}
    assert ds.x_train["numeric"].shape[1] == 1 and ds.info.input_shape == (1,)
    assert ds.info.vocab == {"c1": ["a", "b"], "c2": ["x", "y", "z"]}


def test_declared_integer_column_is_categorical(tmp_path):
    rows = "\n".join(f"{i},{i % 4},{i % 2}" for i in range(40))
    ds = data.load(config_for(tmp_path, "n,zip,y\n" + rows + "\n", ", categorical: [zip]"))
    assert ds.info.vocab == {"zip": ["0", "1", "2", "3"]}


def test_a_mostly_numeric_column_with_one_word_is_bad_data_not_a_category(tmp_path):
    rows = "\n".join(f"{i},{i % 2}" for i in range(20))
    with pytest.raises(DataError, match=r"column 'n', line 22: 'abc' is not a number"):
        data.load(config_for(tmp_path, "n,y\n" + rows + "\nabc,1\n"))


def test_embedding_must_name_a_categorical_column(tmp_path):
    rows = "\n".join(f"{i},{i % 2}" for i in range(20))
    with pytest.raises(DataError, match="data.embedding.n: 'n' is not a categorical column"):
        data.load(config_for(tmp_path, "n,y\n" + rows + "\n", ", embedding: {n: 2}"))


def test_validate_counts_the_lookups_like_keras(churn_run):
    import keras

    config = load_config_text((CONFIGS / "churn_csv.yaml").read_text(), "churn.yaml", base_dir=CONFIGS)
    probe = data.probe(config)
    assert probe.vocab_sizes == {"city": 5, "plan": 3} and probe.input_shape == (3,)
    resolved = resolve(config, probe.task, probe.n_classes)
    total = sum(s.params for s in layer_specs.layers(resolved, probe.input_shape, probe.vocab_sizes))
    model = keras.saving.load_model(churn_run / "model.keras")
    assert total == model.count_params()


def test_saved_model_takes_raw_rows_and_new_categories_go_to_oov(churn_run, tmp_path):
    env = json.loads((churn_run / "environment.json").read_text())
    assert env["data"]["vocab"]["plan"] == ["basic", "plus", "pro"]
    (tmp_path / "new.csv").write_text(
        "tenure_months,monthly_fee,city,plan,support_calls\n12,20.5,paris,basic,3\n40,61,tokyo,pro,0\n"
    )
    result = invoke("predict", churn_run, tmp_path / "new.csv")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "prediction" and len(lines) == 3 and set(lines[1:]) <= {"yes", "no"}


def test_unseen_error_policy_refuses_new_categories(tmp_path):
    rows = "\n".join(f"{i},{'ab'[i % 2]},{i % 2}" for i in range(40))
    cfg = tmp_path / "c.yaml"
    (tmp_path / "t.csv").write_text("n,c,y\n" + rows + "\n")
    cfg.write_text("data: {path: t.csv, target: y, unseen: error}\ntraining: {epochs: 1}\n")
    result = invoke("train", cfg, "--output-dir", tmp_path / "runs", "-q")
    assert result.exit_code == 0, result.output
    (tmp_path / "new.csv").write_text("n,c\n1,a\n2,q\n")
    result = invoke("predict", result.stdout.strip(), tmp_path / "new.csv")
    assert result.exit_code == 2
    assert "column 'c', line 3: category 'q' was not seen in training" in result.stderr


def test_evaluate_reproduces_metrics_for_a_categorical_run(churn_run):
    result = invoke("evaluate", churn_run, "--json")
    assert result.exit_code == 0, result.output
    again = json.loads(result.stdout)["metrics"]
    assert_same_metrics(again, json.loads((churn_run / "metrics.json").read_text()))


def test_missing_category_is_an_error_when_refused_and_a_category_when_allowed(tmp_path):
    rows = "\n".join(f"{i},{'ab'[i % 2] if i != 5 else ''},{i % 2}" for i in range(40))
    with pytest.raises(DataError, match=r"categorical column 'c' has missing values at line 7"):
        data.load(config_for(tmp_path, "n,c,y\n" + rows + "\n", ", missing: error"))
    ds = data.load(config_for(tmp_path, "n,c,y\n" + rows + "\n", ", missing: mean"))
    all_c = np.concatenate([ds.x_train["c"], ds.x_val["c"], ds.x_test["c"]])
    assert "(missing)" in set(all_c)
