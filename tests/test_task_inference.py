"""The task read from the target's values: a float column of 0.0 and 1.0 is binary."""

from __future__ import annotations

import json

import numpy as np

from tests.conftest import invoke


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
