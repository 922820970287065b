"""``data.exclude``: every column but these (and the target) is a feature, instead of listing 73 names to drop one id."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import invoke, train_json


def table(path, rows: int = 120) -> None:
    rng = np.random.default_rng(0)
    lines = ["customer_id,tenure,fee,plan,churn"]
    for i in range(rows):
        tenure, fee = rng.integers(1, 72), round(float(rng.uniform(10, 90)), 2)
        lines.append(f"{1000 + i},{tenure},{fee},{rng.choice(['basic', 'pro'])},{'yes' if tenure < 20 else 'no'}")
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("streaming", [False, True], ids=["in-memory", "streamed"])
def test_every_column_but_the_excluded_ones_and_the_target_is_a_feature(tmp_path, write, streaming):
    table(tmp_path / "t.csv")
    config = write(
        "c.yaml",
        f"data: {{path: t.csv, target: churn, exclude: [customer_id], streaming: {str(streaming).lower()}}}\n"
        "training: {epochs: 2, plots: false}\n",
    )
    checked = invoke("validate", config)
    assert checked.exit_code == 0, checked.output
    run, metrics = train_json(tmp_path / "runs", config)
    assert json.loads((run / "environment.json").read_text())["data"]["features"] == ["tenure", "fee", "plan"]
    assert "accuracy" in metrics
    predicted = invoke("predict", run, tmp_path / "t.csv", "--keep", "customer_id")
    assert predicted.exit_code == 0, predicted.output
    assert predicted.stdout.splitlines()[0] == "customer_id,prediction"
    scored = invoke("evaluate", run, "--data", tmp_path / "t.csv", "--json")
    assert scored.exit_code == 0, scored.output


@pytest.mark.parametrize(
    ("data", "place", "fragment"),
    [
        ("exclude: [customer]", "1:", "data.exclude: no column 'customer' in "),
        ("exclude: [customer]", "1:", "(did you mean 'customer_id'?)"),
        ("exclude: [churn]", "1:", "data.exclude: 'churn' is the target (data.target), never a feature"),
        ("features: [tenure], exclude: [customer_id]", "1:", "give data.features (the columns to use) or"),
        ("exclude: [customer_id, customer_id]", "1:", "column(s) listed twice: customer_id"),
        ("exclude: [customer_id, tenure, fee, plan]", "", "no feature columns besides the target 'churn' and the"),
    ],
    ids=["unknown", "did-you-mean", "the-target", "with-features", "twice", "nothing-left"],
)
def test_a_wrong_exclude_is_a_located_one_line_error(tmp_path, write, data, place, fragment):
    table(tmp_path / "t.csv")
    config = write("c.yaml", f"data: {{path: t.csv, target: churn, {data}}}\n")
    for command in ("validate", "train"):
        result = invoke(command, config, *(["--output-dir", tmp_path / "runs"] if command == "train" else []))
        assert result.exit_code == 2, result.output
        (line,) = result.stderr.strip().splitlines()
        assert fragment in line and "Traceback" not in result.output
        if place:
            assert line.startswith(f"{config}:{place}")


def test_exclude_is_a_table_key_and_is_saved(tmp_path, write):
    table(tmp_path / "t.csv")
    refused = invoke("validate", write("s.yaml", "data: {source: sklearn, name: iris, exclude: [x]}\n"))
    assert refused.exit_code == 2 and "data.exclude: not used by source 'sklearn'; remove it" in refused.stderr
    config = write("c.yaml", "data: {path: t.csv, target: churn, exclude: [customer_id]}\n")
    shown = invoke("config", "show", config)
    assert "exclude:\n  - customer_id" in shown.stdout
