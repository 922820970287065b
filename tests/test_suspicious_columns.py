"""Suspicious columns: an id or free-text column is refused as a feature, a constant one gets a warning."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import invoke


def table(path, rows: int = 60, *, names: bool = True, constant: bool = False):
    rng = np.random.default_rng(0)
    lines = ["name,age,plan,country,y" if constant else "name,age,plan,y"]
    for i in range(rows):
        cells = [f"customer {i:03d}" if names else "x", f"{rng.integers(18, 80)}", "abc"[i % 3]]
        if constant:
            cells.append("FR")
        lines.append(",".join([*cells, str(i % 2)]))
    path.write_text("\n".join(lines) + "\n")
    return path


def config(tmp_path, extra: str = "", streaming: bool = False):
    path = tmp_path / "c.yaml"
    stream = ", streaming: true" if streaming else ""
    path.write_text(
        f"data: {{path: t.csv, target: y{extra}{stream}}}\nmodel: {{layers: [{{units: 4}}]}}\n"
        "training: {epochs: 1, plots: false}\n"
    )
    return path


@pytest.mark.parametrize("command", ["validate", "train"])
@pytest.mark.parametrize("streaming", [False, True])
def test_an_id_column_is_refused_naming_the_ways_out(tmp_path, command, streaming):
    table(tmp_path / "t.csv")
    result = invoke(
        command, config(tmp_path, streaming=streaming), *(["--output-dir", tmp_path] * (command == "train"))
    )
    assert result.exit_code == 2, result.output
    line = result.stderr.strip().splitlines()[-1]
    assert "c.yaml:1:" in line and "column 'name' of " in line
    assert "looks like names, ids or free text (60 distinct values in 60 rows)" in line
    assert "leave it out with data.exclude: [name] (or data.features), or list it in data.categorical or data." in line
    assert "Traceback" not in result.output


@pytest.mark.parametrize("extra", [", features: [age, plan]", ", categorical: [name]", ", embedding: {name: 2}"])
def test_leaving_it_out_or_declaring_it_trains(tmp_path, extra):
    table(tmp_path / "t.csv")
    result = invoke("train", config(tmp_path, extra), "--output-dir", tmp_path, "-q")
    assert result.exit_code == 0, result.output


def test_few_distinct_values_are_categories_however_few_the_rows(tmp_path):
    table(tmp_path / "t.csv", rows=19)  # 19 distinct names in 19 rows: below the floor, a small category set
    assert invoke("validate", config(tmp_path)).exit_code == 0
    table(tmp_path / "t.csv", rows=60, names=False)
    assert invoke("validate", config(tmp_path)).exit_code == 0


@pytest.mark.parametrize("command", ["validate", "train"])
def test_a_constant_column_gets_one_located_warning(tmp_path, command):
    table(tmp_path / "t.csv", names=False, constant=True)
    result = invoke(command, config(tmp_path), *(["--output-dir", tmp_path, "-q"] * (command == "train")))
    assert result.exit_code == 0, result.output
    said = [line for line in result.stderr.splitlines() if "holds one value" in line]
    assert len(said) == 2, result.stderr  # name ('x') and country ('FR')
    assert "c.yaml:1:" in said[1] and "column 'country' of " in said[1] and "('FR')" in said[1]
    assert "it cannot help the model (leave it out with data.exclude: [" in said[1]
