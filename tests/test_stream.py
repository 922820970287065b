"""Streaming CSV path: same checks and messages, deterministic splits, training-split statistics."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from dlcli.cli import cli
from dlcli.config.load import load_config_text
from dlcli.data import load as data
from dlcli.data import splits, stream
from dlcli.data.formats import csv as csv_source
from dlcli.errors import DataError
from tests.conftest import assert_same_metrics


def write_csv(path: Path, rows: int = 3000, seed: int = 0, classes: bool = True) -> Path:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 4)) * [1, 10, 100, 0.1] + [0, 5, -50, 1]
    score = x @ [1.0, 0.1, 0.01, 10.0]
    label = np.where(score > np.median(score), "hi", "lo") if classes else score
    lines = ["a,b,c,d,target"] + [",".join(f"{v:.5f}" for v in row) + f",{t}" for row, t in zip(x, label, strict=True)]
    path.write_text("\n".join(lines) + "\n")
    return path


def config(tmp_path, extra=""):
    return load_config_text(
        f"data: {{path: t.csv, target: target, streaming: true{extra}}}\ntraining: {{epochs: 2, batch_size: 128}}\n",
        "c.yaml",
        base_dir=tmp_path,
    )


def test_split_codes_are_seeded_and_have_the_asked_sizes():
    index = np.arange(100_000)
    codes = split_a = stream.split_codes(index, 0, 0.2, 0.1)
    assert np.array_equal(split_a, stream.split_codes(index, 0, 0.2, 0.1))
    assert not np.array_equal(split_a, stream.split_codes(index, 1, 0.2, 0.1))
    fractions = np.bincount(codes, minlength=3) / len(index)
    assert fractions == pytest.approx([0.72, 0.08, 0.2], abs=0.01)


def test_tf_and_numpy_assign_every_row_to_the_same_split():
    import tensorflow as tf

    index = np.arange(0, 5_000_000, 997, dtype=np.int64)
    ours = stream.split_codes(index, 7, 0.25, 0.2)
    theirs = splits.split_codes_tf(tf, tf.constant(index), 7, 0.25, 0.2).numpy()
    assert np.array_equal(ours, theirs)


def test_the_pass_computes_statistics_from_training_rows_only(tmp_path):
    write_csv(tmp_path / "t.csv")
    streamed = data.load(config(tmp_path))
    assert isinstance(streamed, stream.StreamData)
    x = np.loadtxt(tmp_path / "t.csv", delimiter=",", skiprows=1, usecols=range(4))
    codes = stream.split_codes(np.arange(len(x)), 0, 0.2, 0.1)
    np.testing.assert_allclose(streamed.mean, x[codes == 0].mean(axis=0), rtol=1e-9)
    np.testing.assert_allclose(streamed.var, x[codes == 0].var(axis=0), rtol=1e-6)
    assert streamed.splits == {
        "train": int((codes == 0).sum()),
        "validation": int((codes == 1).sum()),
        "test": int((codes == 2).sum()),
    }
    assert streamed.classes == ["hi", "lo"] and streamed.task == "binary"


def test_the_stream_yields_each_split_exactly_once(tmp_path):
    write_csv(tmp_path / "t.csv", rows=1000)
    streamed = data.load(config(tmp_path))
    seen = {which: sum(len(y) for _, y in streamed.dataset(which, 64)) for which in ("train", "validation", "test")}
    assert seen == streamed.splits
    x_test = np.concatenate([x.numpy() for x, _ in streamed.dataset("test", 64)])
    rows = np.loadtxt(tmp_path / "t.csv", delimiter=",", skiprows=1, usecols=range(4), dtype=np.float32)
    codes = stream.split_codes(np.arange(len(rows)), 0, 0.2, 0.1)
    np.testing.assert_allclose(x_test, rows[codes == 2], rtol=1e-6)


def write_csv_with_line(path: Path, rows: int, index: int, line: str) -> None:
    """A generated CSV whose line ``index + 1`` is replaced by ``line``."""
    lines = write_csv(path, rows=rows).read_text().splitlines()
    lines[index] = line
    path.write_text("\n".join(lines) + "\n")


def test_bad_cells_are_named_with_their_line(tmp_path):
    write_csv_with_line(tmp_path / "t.csv", 50, 30, "1,2,abc,4,hi")
    with pytest.raises(DataError, match=r"column 'c', line 31: 'abc' is not a number"):
        data.load(config(tmp_path))


def test_missing_values_follow_the_policy(tmp_path):
    write_csv_with_line(tmp_path / "t.csv", 200, 10, "1,,3,4,hi")
    with pytest.raises(DataError, match=r"column 'b' has missing values at line 11"):
        data.load(config(tmp_path, ", missing: error"))
    streamed = data.load(config(tmp_path, ", missing: mean"))
    assert streamed.fill is not None and streamed.fill[1] == pytest.approx(streamed.mean[1])


def write_mixed_csv(path: Path, rows: int = 600) -> Path:
    """Numbers with holes, a missing-value word and true/false cells, and a text column with a hole."""
    rng = np.random.default_rng(3)
    lines = ["num, flag ,color,size,target"]
    for i in range(rows):
        num = "NA" if i % 97 == 5 else ("" if i % 89 == 7 else f"{rng.normal():.4f}")
        flag = "true" if i % 3 else " False"
        color = "" if i % 50 == 11 else rng.choice(["red", " green", "blue"])
        lines.append(f"{num},{flag},{color},{rng.integers(1, 4)},{'yes' if i % 2 else 'no'}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_streamed_cells_decode_exactly_as_the_in_memory_reader_reads_them(tmp_path):
    from dlcli.data import table
    from dlcli.data.prepare import fill as fill_holes

    write_mixed_csv(tmp_path / "t.csv")
    cfg = config(tmp_path, ", missing: mean, categorical: [color, size]")
    streamed = data.load(cfg)
    assert streamed.categorical == ["color", "size"] and streamed.features == ["num", "flag"]
    assert {"num", "flag"} <= streamed.text_columns
    assert streamed.vocab["color"] == ["(missing)", "blue", "green", "red"]
    assert streamed.vocab["size"] == ["1", "2", "3"]
    memory, _, _, _ = table.read_table(str(tmp_path / "t.csv"), cfg, ["color", "size"])
    numeric = fill_holes(memory["numeric"], streamed.fill)
    codes = stream.split_codes(np.arange(len(numeric)), 0, 0.2, 0.1)
    for code, which in enumerate(("train", "validation", "test")):
        batches = list(streamed.dataset(which, 50))
        x_numeric = np.concatenate([x["numeric"].numpy() for x, _ in batches])
        np.testing.assert_allclose(x_numeric, numeric[codes == code], rtol=1e-6)
        for col in ("color", "size"):
            got = np.concatenate([x[f"cat_{col}"].numpy().ravel() for x, _ in batches]).astype(str)
            assert got.tolist() == memory[col][codes == code].tolist()


def test_a_streamed_categorical_run_trains_evaluates_and_predicts_raw_rows(tmp_path):
    write_mixed_csv(tmp_path / "t.csv", rows=400)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "data: {path: t.csv, target: target, streaming: true, missing: zero, categorical: [size],\n"
        "       embedding: {color: 2}}\ntraining: {epochs: 1, batch_size: 32}\n"
    )
    runner = CliRunner()
    result = runner.invoke(cli, ["train", str(cfg), "--output-dir", str(tmp_path / "runs"), "--json"])
    assert result.exit_code == 0, result.output
    run_dir = json.loads(result.stdout)["run_dir"]
    env = json.loads((Path(run_dir) / "environment.json").read_text())
    assert sorted(env["data"]["vocab"]) == ["color", "size"]
    again = runner.invoke(cli, ["evaluate", run_dir, "--json"])
    assert again.exit_code == 0, again.output
    assert_same_metrics(json.loads(again.stdout)["metrics"], json.loads(result.stdout)["metrics"])
    (tmp_path / "new.csv").write_text("num,flag,color,size\n0.5,true,purple,2\n,false,red,1\n")
    out = runner.invoke(cli, ["predict", run_dir, str(tmp_path / "new.csv")])
    assert out.exit_code == 0, out.output
    assert out.stdout.splitlines()[0] == "prediction" and set(out.stdout.splitlines()[1:]) <= {"yes", "no"}


def test_streamed_categories_unseen_in_training_follow_the_policy(tmp_path):
    rows = ["k,v,target"] + [f"{'a' if i % 2 else 'b'},{i},{i % 2}" for i in range(300)]
    codes = stream.split_codes(np.arange(300), 0, 0.2, 0.1)
    rare = int(np.flatnonzero(codes == 2)[0])
    rows[rare + 1] = f"zebra,{rare},1"
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    assert "zebra" not in data.load(config(tmp_path)).vocab["k"]
    with pytest.raises(DataError, match=rf"column 'k', line {rare + 2}: category 'zebra' is not in the training"):
        data.load(config(tmp_path, ", unseen: error"))


def test_a_hole_in_a_streamed_text_column_is_named(tmp_path):
    rows = ["k,v,target"] + [f"cat{i % 3},{i},{i % 2}" for i in range(300)]
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    assert data.load(config(tmp_path)).categorical == ["k"]
    with pytest.raises(DataError, match=r"column 'k' has missing values at line 3"):
        rows[2] = ",1,1"
        (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
        data.load(config(tmp_path, ", missing: error"))


def test_auto_streams_only_above_the_threshold(tmp_path, monkeypatch):
    write_csv(tmp_path / "t.csv", rows=50)
    auto = load_config_text("data: {path: t.csv, target: target}\n", "c.yaml", base_dir=tmp_path)
    assert not csv_source.streams(auto)
    monkeypatch.setattr(csv_source, "STREAM_ABOVE_BYTES", 10)
    assert csv_source.streams(auto)


@pytest.mark.parametrize("classes", [True, False])
def test_train_and_evaluate_a_streamed_run(tmp_path, classes):
    write_csv(tmp_path / "t.csv", rows=2000, classes=classes)
    cfg = tmp_path / "c.yaml"
    cfg.write_text("data: {path: t.csv, target: target, streaming: true}\ntraining: {epochs: 2, batch_size: 64}\n")
    runner = CliRunner()
    result = runner.invoke(cli, ["train", str(cfg), "--output-dir", str(tmp_path / "runs"), "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    key = "accuracy" if classes else "r2"
    assert key in payload["metrics"]
    again = runner.invoke(cli, ["evaluate", payload["run_dir"], "--json"])
    assert again.exit_code == 0, again.output
    assert_same_metrics(json.loads(again.stdout)["metrics"], payload["metrics"])
    env = json.loads((Path(payload["run_dir"]) / "environment.json").read_text())
    assert env["data"]["streaming"] is True and env["data"]["rows"] == 2000


def test_drop_policy_is_refused_when_streaming(tmp_path):
    write_csv(tmp_path / "t.csv", rows=50)
    with pytest.raises(DataError, match="data.missing: drop cannot be streamed"):
        data.load(config(tmp_path, ", missing: drop"))
