"""JSON Lines tables (``.jsonl``, ``.ndjson``, compressed or not), added as one format module through the registry:
trained on, validated, predicted on, evaluated with, exported and loaded from Python like every other table."""

from __future__ import annotations

import gzip
import json
import shutil

import numpy as np
import pytest

from tests.conftest import CONFIGS, invoke, train_json

CHURN = CONFIGS / "data" / "churn.jsonl"
FEATURES = ["tenure_months", "monthly_fee", "city", "plan", "support_calls"]


@pytest.fixture(scope="module")
def churn_run(tmp_path_factory):
    """configs/churn_jsonl.yaml, 3 epochs: holes as null and as missing keys, text categories, an id column."""
    return train_json(tmp_path_factory.mktemp("runs"), CONFIGS / "churn_jsonl.yaml", "training.epochs=3")


def lines(path, rows) -> str:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return str(path)


def test_the_source_is_inferred_from_the_extension_and_validate_reads_it_as_train_does(write, tmp_path):
    config = write("c.yaml", f"data: {{path: {CHURN}, target: churn, exclude: [id], missing: mean}}\n")
    checked = invoke("validate", config)
    assert checked.exit_code == 0, checked.output
    assert "binary" in checked.stdout and "input city" in checked.stdout and "input plan" in checked.stdout
    shown = invoke("config", "show", config)
    assert "source: jsonl" in shown.stdout


def test_a_jsonl_run_trains_predicts_and_evaluates(churn_run, tmp_path):
    run, metrics = churn_run
    assert 0.5 < metrics["accuracy"] <= 1.0
    env = json.loads((run / "environment.json").read_text())["data"]
    assert env["features"] == FEATURES and set(env["vocab"]) == {"city", "plan"}
    assert env["fill"] is not None  # null and missing keys were holes, filled with the training mean

    rows = [
        {"id": "a1", "tenure_months": 3, "monthly_fee": None, "city": "paris", "plan": "pro", "support_calls": 1},
        {"id": "a2", "tenure_months": 30, "monthly_fee": "45.5", "city": "lille", "plan": "basic"},  # hole: no key
    ]
    new = lines(tmp_path / "new.jsonl", rows)
    out = tmp_path / "p.csv"
    result = invoke("predict", run, new, "--keep", "id", "--proba", "-o", out)
    assert result.exit_code == 0, result.output
    predicted = out.read_text().splitlines()
    assert predicted[0] == "id,prediction,p_no,p_yes" and [p.split(",")[0] for p in predicted[1:]] == ["a1", "a2"]

    packed = tmp_path / "new.ndjson.gz"
    with gzip.open(packed, "wt") as fh:
        fh.write((tmp_path / "new.jsonl").read_text())
    again = invoke("predict", run, packed, "--proba", "-o", tmp_path / "q.csv")
    assert again.exit_code == 0, again.output
    assert [r.split(",", 1)[1] for r in predicted[1:]] == (tmp_path / "q.csv").read_text().splitlines()[1:]

    scored = invoke("evaluate", run, "--data", CHURN, "--json")
    assert scored.exit_code == 0, scored.output
    assert sum(c["support"] for c in json.loads(scored.stdout)["metrics"]["per_class"].values()) == 600


@pytest.mark.slow  # multi-run
def test_a_jsonl_file_gives_the_same_model_as_the_same_table_in_csv(tmp_path, write):
    """The format changes how cells are read, not what is learned: the same rows train the same weights."""
    table = [json.loads(line) for line in CHURN.read_text().splitlines()]
    header = ["tenure_months", "monthly_fee", "city", "plan", "support_calls", "churn"]
    csv_rows = [",".join("" if r.get(k) is None else str(r[k]) for k in header) for r in table]
    (tmp_path / "churn.csv").write_text(",".join(header) + "\n" + "\n".join(csv_rows) + "\n")
    shutil.copy(CHURN, tmp_path / "churn.jsonl")
    common = "target: churn, missing: mean, features: [tenure_months, monthly_fee, city, plan, support_calls]"
    train = "training: {epochs: 2, plots: false}\n"
    as_csv = write("a.yaml", f"data: {{path: churn.csv, {common}}}\n{train}")
    as_jsonl = write("b.yaml", f"data: {{path: churn.jsonl, {common}}}\n{train}")
    _, from_csv = train_json(tmp_path / "runs", as_csv)
    _, from_jsonl = train_json(tmp_path / "runs", as_jsonl)
    assert from_jsonl["loss"] == pytest.approx(from_csv["loss"], abs=1e-6)


def test_json_types_decide_whole_numbers_text_and_booleans(tmp_path, write):
    rows = [{"x": float(i % 7), "flag": i % 2 == 0, "y": i % 3} for i in range(90)]
    rows[4]["y"] = None  # a hole in the target: dropped, and the labels stay whole numbers
    data = lines(tmp_path / "t.jsonl", rows)
    config = write("t.yaml", f"data: {{path: {data}, target: y}}\ntraining: {{epochs: 1, plots: false}}\n")
    run, _ = train_json(tmp_path / "runs", config)
    assert json.loads((run / "labels.json").read_text()) == [0, 1, 2]
    from dlcli.data.formats import jsonl

    frame, where = jsonl.read_frame(data)
    assert [str(frame[c].dtype) for c in frame.columns] == ["Float64", "boolean", "Int64"]
    assert where[0] == "line" and list(where[1][:3]) == [1, 2, 3]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('{"x": 1, "y": 0}\n{"x": 2, "y": \n', "line 2: not valid JSON"),
        ('{"x": 1, "y": 0}\n[1, 0]\n', "line 2: a JSON list where a JSON object (column: value) was expected"),
        ('{"x": {"a": 1}, "y": 0}\n', "line 1: column 'x' holds a nested object; flatten it"),
        ('{"x": [1, 2], "y": 0}\n', "line 1: column 'x' holds a nested list"),
        ("\n\n", "the file is empty; expected one JSON object per line"),
        ('{"x": 1, "y": 0}\n{"x": "many", "y": 1}\n', "t.jsonl: column 'x', line 2: 'many' is not a number"),
    ],
    ids=["invalid", "not-an-object", "nested-object", "nested-list", "empty", "a-word"],
)
def test_a_bad_jsonl_file_is_a_one_line_error_naming_the_file_and_line(tmp_path, write, text, fragment):
    (tmp_path / "t.jsonl").write_text(text)
    config = write("c.yaml", "data: {path: t.jsonl, target: y, test_split: 0.5, validation_split: 0}\n")
    for command in ("validate", "train"):
        result = (
            invoke(command, config, "--output-dir", tmp_path / "runs")
            if command == "train"
            else invoke(command, config)
        )
        assert result.exit_code == 2, result.output
        (line,) = result.stderr.strip().splitlines()
        assert fragment in line and "t.jsonl" in line and "Traceback" not in result.output
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_the_python_api_and_exports_check_rows_read_jsonl(churn_run, tmp_path):
    import dlcli

    run, _ = churn_run
    rows = [{"tenure_months": 12, "monthly_fee": 30.0, "city": "nice", "plan": "plus", "support_calls": 2}]
    frame = dlcli.load(run).predict(lines(tmp_path / "x.jsonl", rows), proba=True)
    assert list(frame.columns) == ["prediction", "p_no", "p_yes"] and frame["prediction"][0] in ("no", "yes")
    from dlcli.export.rows import check_rows
    from dlcli.runs.saved import open_run

    checked = check_rows(open_run(run), str(CHURN))
    assert checked.counts[str(CHURN)] == 600 and checked.holes() > 0
    assert np.isnan(checked.columns["monthly_fee"][:600]).sum() == sum(  # then the edge rows
        1 for line in CHURN.read_text().splitlines() if json.loads(line).get("monthly_fee") is None
    )


def test_predict_refuses_a_jsonl_file_without_a_training_column(churn_run, tmp_path):
    run, _ = churn_run
    new = lines(tmp_path / "n.jsonl", [{"tenure_months": 1, "city": "nice"}])
    result = invoke("predict", run, new)
    assert result.exit_code == 2
    assert "missing column(s) monthly_fee, plan, support_calls that the model was trained on" in result.stderr
