"""Data sources and splits, without TensorFlow: sklearn, CSV/TSV, NPZ and ``prepare``."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from dlcli.config.load import load_config_text
from dlcli.data import load as data
from dlcli.data.sources.sklearn import DATASETS as SKLEARN_DATASETS
from dlcli.data.task import infer_task
from dlcli.errors import ConfigError, DataError


def config_for(tmp_path: Path, data_yaml: str, extra: str = ""):
    return load_config_text(f"data: {data_yaml}\n{extra}", "x.yaml", base_dir=tmp_path)


def csv_config(tmp_path: Path, text: str, name: str = "t.csv", more: str = "", extra: str = ""):
    (tmp_path / name).write_text(text, encoding="utf-8")
    return config_for(tmp_path, f"{{source: csv, path: {name}, target: label{more}}}", extra)


def data_error(fn, config) -> str:
    with pytest.raises(DataError) as info:
        fn(config)
    assert info.value.exit_code == 2
    return str(info.value)


def table(header: str, rows) -> str:
    return header + "\n" + "".join(",".join(str(v) for v in row) + "\n" for row in rows)


def labelled(n: int, labels) -> str:
    """A CSV with features a, b and a label cycling through ``labels``."""
    return table("a,b,label", [(i, i * 0.5, labels[i % len(labels)]) for i in range(n)])


# -- sklearn -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", SKLEARN_DATASETS)
def test_sklearn_probe_matches_read(tmp_path, name):
    config = config_for(tmp_path, f"{{source: sklearn, name: {name}}}")
    probe = data.probe(config)
    raw = data.read(config)
    assert probe.input_shape == raw.x.shape[1:]
    assert probe.task == infer_task("auto", raw.y, name)
    expected_classes = None if probe.task == "regression" else len(np.unique(raw.y))
    assert probe.n_classes == expected_classes


def test_sklearn_load_uses_class_names(tmp_path):
    dataset = data.load(config_for(tmp_path, "{source: sklearn, name: iris}"))
    assert dataset.info.classes == ["setosa", "versicolor", "virginica"]
    assert dataset.info.feature_names[0] == "sepal length (cm)"
    assert dataset.info.splits == {"train": 108, "validation": 12, "test": 30}
    assert dataset.x_train.dtype == np.float32 and dataset.y_train.dtype == np.int32


def test_sklearn_regression_has_no_classes(tmp_path):
    dataset = data.load(config_for(tmp_path, "{source: sklearn, name: diabetes}"))
    assert dataset.info.task == "regression"
    assert dataset.info.classes is None and dataset.info.n_classes is None
    assert dataset.y_train.dtype == np.float32


# -- CSV -------------------------------------------------------------------------------------------


def test_csv_integer_target_is_classes(tmp_path):
    config = csv_config(tmp_path, labelled(30, [3, 1, 2]))
    probe = data.probe(config)
    assert (probe.input_shape, probe.task, probe.n_classes, probe.rows) == ((2,), "multiclass", 3, 30)
    dataset = data.load(config)
    assert dataset.info.classes == [1, 2, 3]
    assert dataset.info.feature_names == ["a", "b"]
    assert set(np.unique(dataset.y_train)) == {0, 1, 2}


def test_csv_string_target_is_classes(tmp_path):
    config = csv_config(tmp_path, labelled(20, ["no", "yes"]))
    assert (data.probe(config).task, data.probe(config).n_classes) == ("binary", 2)
    dataset = data.load(config)
    assert dataset.info.task == "binary"
    assert dataset.info.classes == ["no", "yes"]


def test_csv_float_target_is_regression(tmp_path):
    config = csv_config(tmp_path, labelled(20, [0.5, 1.25, 3.0, 7.75]))
    probe = data.probe(config)
    assert (probe.task, probe.n_classes) == ("regression", None)
    dataset = data.load(config)
    assert dataset.info.task == "regression"
    assert dataset.info.classes is None
    assert dataset.y_train.dtype == np.float32


def test_csv_task_can_be_forced(tmp_path):
    config = csv_config(tmp_path, labelled(20, [1, 2, 3, 4]), extra="task: regression\n")
    assert data.probe(config).task == "regression"
    assert data.load(config).info.task == "regression"


def test_csv_features_subset(tmp_path):
    text = table("a,b,c,label", [(i, i + 1, i + 2, i % 2) for i in range(20)])
    config = csv_config(tmp_path, text, more=", features: [c, a]")
    assert data.probe(config).input_shape == (2,)
    dataset = data.load(config)
    assert dataset.info.feature_names == ["c", "a"]
    assert dataset.x_train.shape[1] == 2
    row = dataset.x_test[0]
    assert row[0] == row[1] + 2  # c = a + 2


def test_csv_spaces_after_commas_are_ignored(tmp_path):
    text = "a, b, label\n" + "".join(f"{i}, {i}, {'x' if i % 2 else 'y'}\n" for i in range(10))
    dataset = data.load(csv_config(tmp_path, text, more=", validation_split: 0"))
    assert dataset.info.feature_names == ["a", "b"]
    assert dataset.info.classes == ["x", "y"]


def test_csv_booleans_are_numbers(tmp_path):
    text = table("a,flag,label", [(i, "true" if i % 3 else "false", i % 2) for i in range(10)])
    dataset = data.load(csv_config(tmp_path, text, more=", validation_split: 0"))
    assert set(np.unique(dataset.x_train[:, 1])) <= {0.0, 1.0}


def test_csv_missing_target_column_suggests(tmp_path):
    (tmp_path / "t.csv").write_text(labelled(10, [0, 1]))
    config = config_for(tmp_path, "{source: csv, path: t.csv, target: lable}")
    for fn in (data.probe, data.load):
        message = data_error(fn, config)
        assert message.startswith("x.yaml:1:")
        assert "data.target: no column 'lable'" in message
        assert "did you mean 'label'?" in message
        assert "columns: a, b, label" in message


def test_csv_missing_feature_column(tmp_path):
    config = csv_config(tmp_path, labelled(10, [0, 1]), more=", features: [a, bb]")
    message = data_error(data.load, config)
    assert "data.features: no column 'bb'" in message
    assert "did you mean 'b'?" in message


def test_csv_non_numeric_value_names_column_line_and_value(tmp_path):
    text = "a,b,label\n1,2,x\n3,4,y\n5,seven,x\n7,8,y\n"
    message = data_error(data.load, csv_config(tmp_path, text))
    assert "column 'b'" in message
    assert "line 4" in message
    assert "'seven' is not a number" in message


def test_csv_infinite_value_is_rejected(tmp_path):
    message = data_error(data.load, csv_config(tmp_path, "a,label\n1,x\ninf,y\n2,x\n"))
    assert "column 'a', line 3: inf is not a finite number" in message


def test_csv_missing_values_name_the_lines(tmp_path):
    text = "a,b,label\n1,2,x\n3,,y\n5,NA,x\n7,8,y\n"
    message = data_error(data.load, csv_config(tmp_path, text, more=", missing: error"))
    assert "column 'b' has missing values at lines 3, 4" in message


def test_csv_many_missing_values_are_summarised(tmp_path):
    text = "a,label\n" + "".join(f",{i % 2}\n" for i in range(6))
    message = data_error(data.load, csv_config(tmp_path, text, more=", missing: error"))
    assert "lines 2, 3, 4 and 3 more" in message


def test_csv_empty_target_names_the_lines(tmp_path):
    """With data.target_missing: error (the default drops them), an empty target is refused at its line."""
    config = csv_config(tmp_path, "a,label\n1,x\n2,\n3,y\n", more=", target_missing: error")
    for fn in (data.probe, data.load):
        message = data_error(fn, config)
        assert "data.target_missing: " in message and "column 'label' is empty at line 3" in message


def test_csv_empty_file(tmp_path):
    config = csv_config(tmp_path, "")
    for fn in (data.probe, data.load):
        assert "the file is empty" in data_error(fn, config)


def test_csv_header_only(tmp_path):
    assert "has a header but no data rows" in data_error(data.load, csv_config(tmp_path, "a,b,label\n"))


def test_csv_header_only_probe(tmp_path):
    assert "no data rows" in data_error(data.probe, csv_config(tmp_path, "a,b,label\n"))


def test_csv_ragged_rows(tmp_path):
    message = data_error(data.load, csv_config(tmp_path, "a,b,label\n1,2,x\n3,4,5,y\n5,6,x\n"))
    assert "line 3" in message
    assert "same number of fields" in message


def test_csv_single_class(tmp_path):
    config = csv_config(tmp_path, labelled(10, ["x"]))
    for fn in (data.probe, data.load):
        message = data_error(fn, config)
        assert "column 'label'" in message
        assert "single class" in message


def test_csv_single_class_shows_the_plain_value(tmp_path):
    message = data_error(data.load, csv_config(tmp_path, labelled(10, ["x"])))
    assert "('x' in every row)" in message


def test_csv_line_numbers_count_blank_lines(tmp_path):
    message = data_error(data.load, csv_config(tmp_path, "a,label\n1,x\n\nseven,y\n3,x\n"))
    assert "line 4" in message


def test_csv_only_a_target_column(tmp_path):
    message = data_error(data.load, csv_config(tmp_path, "label\n1\n2\n"))
    assert "no feature columns" in message


def test_csv_not_utf8(tmp_path):
    (tmp_path / "t.csv").write_bytes(b"a,label\n\xff\xfe,1\n")
    config = config_for(tmp_path, "{source: csv, path: t.csv, target: label}")
    assert "not a UTF-8 text file" in data_error(data.load, config)


def test_csv_with_byte_order_mark(tmp_path):
    (tmp_path / "t.csv").write_bytes(("\ufeff" + labelled(10, ["x", "y"])).encode())
    config = config_for(tmp_path, "{source: csv, path: t.csv, target: label, validation_split: 0}")
    assert data.load(config).info.feature_names == ["a", "b"]


@pytest.mark.parametrize("suffix", [".tsv", ".tab"])
def test_tsv_by_extension(tmp_path, suffix):
    text = labelled(12, ["x", "y", "z"]).replace(",", "\t")
    config = csv_config(tmp_path, text, name=f"t{suffix}")
    assert data.probe(config).input_shape == (2,)
    dataset = data.load(config)
    assert dataset.info.feature_names == ["a", "b"]
    assert dataset.info.classes == ["x", "y", "z"]


def test_csv_test_path(tmp_path):
    (tmp_path / "test.csv").write_text(labelled(9, [0, 1, 2]))
    config = csv_config(tmp_path, labelled(40, [0, 1, 2]), more=", test_path: test.csv")
    dataset = data.load(config)
    assert dataset.info.splits == {"train": 36, "validation": 4, "test": 9}
    assert len(dataset.info.fingerprint["files"]) == 2


def test_csv_test_path_with_other_columns(tmp_path):
    (tmp_path / "test.csv").write_text(table("a,c,label", [(1, 2, 0), (2, 3, 1)]))
    config = csv_config(tmp_path, labelled(20, [0, 1]), more=", test_path: test.csv")
    assert "feature columns" in data_error(data.load, config)


def test_csv_test_labels_unseen_in_training(tmp_path):
    (tmp_path / "test.csv").write_text(labelled(6, ["x", "q"]))
    config = csv_config(tmp_path, labelled(20, ["x", "y"]), more=", test_path: test.csv")
    assert "never appear in the training data" in data_error(data.load, config)


# -- NPZ -------------------------------------------------------------------------------------------


def mnist_like(path: Path, n_train: int = 60, n_test: int = 20) -> None:
    rng = np.random.default_rng(0)
    np.savez(
        path,
        x_train=rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        y_train=np.arange(n_train, dtype=np.uint8) % 10,
        x_test=rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        y_test=np.arange(n_test, dtype=np.uint8) % 10,
    )


def test_npz_mnist_layout(tmp_path):
    mnist_like(tmp_path / "mnist.npz")
    config = config_for(tmp_path, "{source: npz, path: mnist.npz, validation_split: 0}")
    probe = data.probe(config)
    # rows: every row the run uses, the 60 of x_train and the 20 of the given x_test
    assert (probe.input_shape, probe.task, probe.n_classes, probe.rows) == ((28, 28), "multiclass", 10, 80)
    dataset = data.load(config)
    assert dataset.info.input_shape == (28, 28)
    assert dataset.info.splits == {"train": 60, "validation": 0, "test": 20}
    assert dataset.info.classes == list(range(10))
    assert dataset.x_train.dtype == np.float32 and dataset.x_train.shape == (60, 28, 28)
    assert dataset.x_train.max() > 1  # raw pixels: scaling is the model's job (data.scale)


def test_npz_x_y_layout(tmp_path):
    np.savez(tmp_path / "xy.npz", x=np.random.default_rng(1).random((50, 3)), y=np.linspace(0, 1, 50))
    config = config_for(tmp_path, "{source: npz, path: xy.npz}")
    probe = data.probe(config)
    assert (probe.input_shape, probe.task, probe.rows) == ((3,), "regression", 50)
    dataset = data.load(config)
    assert dataset.info.splits == {"train": 36, "validation": 4, "test": 10}


def test_npz_column_vector_labels(tmp_path):
    np.savez(tmp_path / "xy.npz", x=np.zeros((20, 2)), y=(np.arange(20) % 2).reshape(-1, 1))
    config = config_for(tmp_path, "{source: npz, path: xy.npz, validation_split: 0}")
    assert data.probe(config).task == "binary"
    assert data.load(config).y_train.ndim == 1


def test_npz_wrong_keys_lists_found(tmp_path):
    np.savez(tmp_path / "w.npz", images=np.zeros((4, 2)), labels=np.zeros(4))
    config = config_for(tmp_path, "{source: npz, path: w.npz}")
    for fn in (data.probe, data.load):
        message = data_error(fn, config)
        assert "expected arrays x_train, y_train" in message
        assert "found images, labels" in message


def test_npz_mismatched_lengths(tmp_path):
    np.savez(tmp_path / "m.npz", x=np.zeros((20, 3)), y=np.zeros(19))
    message = data_error(data.load, config_for(tmp_path, "{source: npz, path: m.npz}"))
    assert "'x' has 20 rows but 'y' has 19" in message


def test_npz_given_test_split_with_other_row_shape(tmp_path):
    np.savez(
        tmp_path / "m.npz",
        x_train=np.zeros((10, 4)),
        y_train=np.arange(10) % 2,
        x_test=np.zeros((3, 5)),
        y_test=np.arange(3) % 2,
    )
    message = data_error(data.load, config_for(tmp_path, "{source: npz, path: m.npz}"))
    assert "x_test rows have shape (5,)" in message


def test_npz_not_an_archive(tmp_path):
    (tmp_path / "m.npz").write_text("not a zip")
    message = data_error(data.load, config_for(tmp_path, "{source: npz, path: m.npz}"))
    assert "not a readable .npz archive" in message


def test_npz_test_path(tmp_path):
    np.savez(tmp_path / "train.npz", x=np.zeros((30, 2)), y=np.arange(30) % 3)
    np.savez(tmp_path / "test.npz", x=np.ones((7, 2)), y=np.arange(7) % 3)
    config = config_for(tmp_path, "{source: npz, path: train.npz, test_path: test.npz, validation_split: 0}")
    dataset = data.load(config)
    assert dataset.info.splits == {"train": 30, "validation": 0, "test": 7}
    assert (dataset.x_test == 1).all()


def test_missing_data_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match=r"data\.path: file not found: 'nope\.npz'"):
        config_for(tmp_path, "{source: npz, path: nope.npz}")


# -- prepare: splits -------------------------------------------------------------------------------


def imbalanced(tmp_path: Path, seed: int = 0, more: str = ""):
    labels = ["common"] * 40 + ["middle"] * 15 + ["rare"] * 5
    text = table("a,b,label", [(i, i % 7, lab) for i, lab in enumerate(labels)])
    return csv_config(tmp_path, text, more=more, extra=f"seed: {seed}\n")


def test_split_sizes(tmp_path):
    dataset = data.load(imbalanced(tmp_path))
    assert dataset.info.splits == {"train": 43, "validation": 5, "test": 12}
    assert len(dataset.x_train) == len(dataset.y_train) == 43
    assert len(dataset.x_val) == len(dataset.y_val) == 5
    assert len(dataset.x_test) == len(dataset.y_test) == 12
    rows = np.concatenate([dataset.x_train[:, 0], dataset.x_val[:, 0], dataset.x_test[:, 0]])
    assert sorted(rows.tolist()) == list(range(60))  # every row exactly once


def test_no_validation_split(tmp_path):
    dataset = data.load(imbalanced(tmp_path, more=", validation_split: 0"))
    assert dataset.x_val is None and dataset.y_val is None
    assert dataset.info.splits == {"train": 48, "validation": 0, "test": 12}


@pytest.mark.parametrize("seed", range(5))
def test_stratified_split_keeps_every_class(tmp_path, seed):
    dataset = data.load(imbalanced(tmp_path, seed))
    for y in (dataset.y_train, dataset.y_test):
        assert set(np.unique(y)) == {0, 1, 2}
    assert np.bincount(dataset.y_test).tolist() == [8, 3, 1]  # the 40/15/5 proportions


def test_same_seed_same_split(tmp_path):
    first = data.load(imbalanced(tmp_path, seed=3))
    again = data.load(imbalanced(tmp_path, seed=3))
    for name in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(first, name), getattr(again, name))
    assert first.info.fingerprint == again.info.fingerprint


def test_different_seed_different_split(tmp_path):
    first = data.load(imbalanced(tmp_path, seed=0))
    other = data.load(imbalanced(tmp_path, seed=1))
    assert not np.array_equal(first.x_test, other.x_test)
    assert first.info.fingerprint == other.info.fingerprint  # same data, other split


def test_too_few_rows_to_split(tmp_path):
    message = data_error(data.load, csv_config(tmp_path, "a,label\n1,x\n2,y\n"))
    assert "cannot be split" in message


def test_fingerprint_names_the_file(tmp_path):
    dataset = data.load(imbalanced(tmp_path))
    fingerprint = dataset.info.fingerprint
    assert fingerprint["source"] == "csv"
    assert fingerprint["rows"] == 60
    (entry,) = fingerprint["files"].values()
    assert len(entry["sha256"]) == 64


# -- validation does not import TensorFlow -------------------------------------------------------------


def test_validation_path_never_imports_tensorflow(tmp_path):
    (tmp_path / "t.csv").write_text(labelled(20, ["x", "y"]))
    np.savez(tmp_path / "m.npz", x_train=np.zeros((10, 4, 4), np.uint8), y_train=np.arange(10) % 3)
    configs = {
        "sklearn.yaml": "data: {source: sklearn, name: digits}\n",
        "csv.yaml": "data: {source: csv, path: t.csv, target: label}\n",
        "npz.yaml": "data: {source: npz, path: m.npz, scale: 0.5}\n",
    }
    for name, text in configs.items():
        (tmp_path / name).write_text(text)
    script = textwrap.dedent(
        f"""
        import sys
        import dlcli.cli, dlcli.config.load, dlcli.data.load
        from dlcli.config.resolve import resolve
        from dlcli.model import specs as layer_specs
        for name in {sorted(configs)!r}:
            config = dlcli.config.load.load_config({str(tmp_path)!r} + "/" + name)
            probe = dlcli.data.load.probe(config)
            resolved = resolve(config, probe.task, probe.n_classes)
            layer_specs.table(layer_specs.layers(resolved, probe.input_shape), probe.input_shape)
        loaded = sorted(m for m in ("tensorflow", "keras", "sklearn") if m in sys.modules)
        print(",".join(loaded))
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_csv_with_quoted_spaced_header_and_crlf_lines(tmp_path):
    rows = "".join(f'{i},"{i % 5}",{i * 0.5}\r\n' for i in range(40))
    (tmp_path / "t.csv").write_bytes(('"x 1", "x 2" ,price\r\n' + rows).encode())
    config = load_config_text("data: {path: t.csv, target: price}\n", "c.yaml", base_dir=tmp_path)
    assert data.probe(config).input_shape == (2,)
    ds = data.load(config)
    assert ds.info.feature_names == ["x 1", "x 2"] and ds.info.task == "regression"


@pytest.mark.parametrize(
    ("counts", "fraction"), [([40, 15, 5], 0.2), ([500, 3, 2], 0.1), ([7, 7], 0.5), ([1, 99], 0.33)]
)
def test_split_index_partitions_rows_and_gives_each_class_its_share(counts, fraction):
    from dlcli.data.splits import split_index

    y = np.random.default_rng(1).permutation(np.repeat(np.arange(len(counts)), counts))
    keep, out = split_index(y, fraction, seed=4, stratify=True)
    assert len(out) == int(np.ceil(fraction * len(y)))
    assert np.array_equal(np.sort(np.concatenate([keep, out])), np.arange(len(y)))
    assert np.all(np.diff(keep) > 0) and np.all(np.diff(out) > 0)  # file order within each split
    share = np.bincount(y[out], minlength=len(counts))
    ideal = np.array(counts) * len(out) / len(y)
    assert np.all(np.abs(share - ideal) < 1)  # floors plus the largest remainders
    again = split_index(y, fraction, seed=4, stratify=True)
    assert np.array_equal(again[1], out)
    assert not np.array_equal(split_index(y, fraction, seed=5, stratify=True)[1], out)


def test_split_index_without_stratification_is_a_seeded_sample():
    from dlcli.data.splits import split_index

    y = np.zeros(1000, dtype=np.int32)
    keep, out = split_index(y, 0.25, seed=0, stratify=False)
    assert len(out) == 250 and len(keep) == 750
    assert 300 < out.mean() < 700  # spread over the file, not its head
    assert not np.array_equal(split_index(y, 0.25, seed=1, stratify=False)[1], out)
