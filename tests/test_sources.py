"""Every data source end to end: parquet, CSV/TSV, npy pairs, synthetic, keras, missing values, fingerprints.

Most tests stop at ``dlcli.data`` (no TensorFlow); a few train a tiny model
through ``dlcli train`` to check what a run directory records.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from dlcli.cli import cli
from dlcli.config.load import load_config, load_config_text
from dlcli.data import load as data
from dlcli.data.sources import keras as keras_datasets
from dlcli.data.sources.synthetic import DATASETS as SHAPES
from dlcli.data.sources.synthetic import DEFAULT_NOISE, DEFAULT_SAMPLES
from dlcli.errors import ConfigError, DataError
from tests.conftest import ROOT, make_mnist_like

prepare_module = importlib.import_module("dlcli.data.prepare")  # dlcli.data.prepare is also a function


def config_for(folder: Path, data_yaml: str, extra: str = ""):
    return load_config_text(f"data: {data_yaml}\n{extra}", "x.yaml", base_dir=folder)


def error_of(kind, fn, *args) -> str:
    with pytest.raises(kind) as info:
        fn(*args)
    assert info.value.exit_code == 2
    return str(info.value)


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def train_run(folder: Path, config_text: str, *overrides: str) -> Path:
    """``dlcli train`` of a config written to ``folder``; returns the run directory."""
    config = folder / "run.yaml"
    config.write_text(config_text, encoding="utf-8")
    sets = [a for o in overrides for a in ("--set", o)]
    result = invoke("train", config, *sets, "--output-dir", folder / "runs", "--json")
    assert result.exit_code == 0, result.output
    return Path(json.loads(result.stdout)["run_dir"])


def environment(run: Path) -> dict:
    return json.loads((run / "environment.json").read_text())


def table(header: str, body, sep: str = ",") -> str:
    return header.replace(",", sep) + "\n" + "".join(sep.join(str(v) for v in row) + "\n" for row in body)


def labelled(n: int, labels=("x", "y"), start: int = 0) -> list[list]:
    return [[i, (i * 7) % 11, labels[i % len(labels)]] for i in range(start, start + n)]


# -- parquet ---------------------------------------------------------------------------------------


def write_parquet(path: Path, n: int = 30, labels=("cat", "dog", "fox"), **columns) -> Path:
    frame = pd.DataFrame(
        {"a": np.arange(n, dtype=float), "b": np.arange(n) % 7, "label": [labels[i % len(labels)] for i in range(n)]}
    )
    for name, values in columns.items():
        frame[name] = values
    frame.to_parquet(path)
    return path


@pytest.mark.parametrize("suffix", [".parquet", ".pq"])
def test_parquet_source_is_inferred_from_the_extension(tmp_path, suffix):
    write_parquet(tmp_path / f"t{suffix}")
    config = config_for(tmp_path, f"{{path: t{suffix}, target: label}}")
    assert config.data.source == "parquet"
    assert config.dump()["data"]["source"] == "parquet"
    assert data.load(config).info.fingerprint["source"] == "parquet"


@pytest.mark.parametrize(
    ("labels", "task", "classes"),
    [
        (("cat", "dog", "fox"), "multiclass", ["cat", "dog", "fox"]),
        (("no", "yes"), "binary", ["no", "yes"]),
        ((3, 1, 2), "multiclass", [1, 2, 3]),
    ],
)
def test_parquet_probe_and_load_agree(tmp_path, labels, task, classes):
    write_parquet(tmp_path / "t.parquet", labels=labels)
    config = config_for(tmp_path, "{path: t.parquet, target: label}")
    probe = data.probe(config)
    dataset = data.load(config)
    assert (probe.input_shape, probe.task, probe.n_classes, probe.rows) == ((2,), task, len(classes), 30)
    assert dataset.info.input_shape == probe.input_shape
    assert (dataset.info.task, dataset.info.n_classes) == (probe.task, probe.n_classes)
    assert sum(dataset.info.splits.values()) == probe.rows
    assert dataset.info.classes == classes
    assert dataset.info.feature_names == ["a", "b"]
    assert dataset.x_train.dtype == np.float32


def test_parquet_float_target_is_regression(tmp_path):
    write_parquet(tmp_path / "t.parquet", label=np.linspace(0, 1, 30))
    config = config_for(tmp_path, "{path: t.parquet, target: label}")
    assert data.probe(config).task == "regression"
    assert data.load(config).info.classes is None


def test_parquet_int_target_with_nulls_probe_and_load_agree(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    labels = [i % 2 for i in range(30)]
    labels[5] = None
    features = pa.array(np.arange(30, dtype=float))
    pq.write_table(pa.table({"a": features, "label": pa.array(labels, type=pa.int64())}), tmp_path / "t.parquet")
    config = config_for(tmp_path, "{path: t.parquet, target: label, missing: drop}")
    assert data.probe(config).task == "binary"
    assert data.load(config).info.task == "binary"


def test_parquet_missing_target_column_suggests(tmp_path):
    write_parquet(tmp_path / "t.parquet")
    config = config_for(tmp_path, "{path: t.parquet, target: lable}")
    for fn in (data.probe, data.load):
        message = error_of(DataError, fn, config)
        assert message.startswith("x.yaml:1:")
        assert "data.target: no column 'lable'" in message
        assert str(tmp_path / "t.parquet") in message
        assert "(did you mean 'label'?)" in message


def test_parquet_nan_is_an_error_naming_the_column_and_row(tmp_path):
    a = np.arange(30, dtype=float)
    a[[4, 9]] = np.nan
    write_parquet(tmp_path / "t.parquet", a=a)
    message = error_of(DataError, data.load, config_for(tmp_path, "{path: t.parquet, target: label, missing: error}"))
    assert str(tmp_path / "t.parquet") in message
    assert "column 'a' has missing values at rows 5, 10" in message


@pytest.mark.parametrize("policy", ["drop", "mean", "median", "zero"])
def test_parquet_nan_follows_data_missing(tmp_path, policy):
    a = np.arange(30, dtype=float)
    a[[4, 9]] = np.nan
    write_parquet(tmp_path / "t.parquet", a=a)
    dataset = data.load(config_for(tmp_path, f"{{path: t.parquet, target: label, missing: {policy}}}"))
    assert sum(dataset.info.splits.values()) == (28 if policy == "drop" else 30)
    assert not np.isnan(dataset.x_train).any() and not np.isnan(dataset.x_test).any()


# -- CSV / TSV -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "sep"), [("t.csv", ","), ("t.tsv", "\t")])
def test_csv_and_tsv_sources_are_inferred_from_the_extension(tmp_path, name, sep):
    (tmp_path / name).write_text(table("a,b,label", labelled(20), sep=sep))
    config = config_for(tmp_path, f"{{path: {name}, target: label}}")
    assert config.data.source == "csv"
    probe = data.probe(config)
    dataset = data.load(config)
    assert (probe.input_shape, probe.task, probe.rows) == ((2,), "binary", 20)
    assert dataset.info.feature_names == ["a", "b"]
    assert dataset.info.classes == ["x", "y"]


def test_csv_given_validation_and_test_files_set_the_split_sizes(tmp_path):
    (tmp_path / "train.csv").write_text(table("a,b,label", labelled(30)))
    (tmp_path / "val.csv").write_text(table("a,b,label", labelled(7, start=100)))
    (tmp_path / "test.csv").write_text(table("a,b,label", labelled(9, start=200)))
    config = config_for(tmp_path, "{path: train.csv, target: label, validation_path: val.csv, test_path: test.csv}")
    dataset = data.load(config)
    assert dataset.info.splits == {"train": 30, "validation": 7, "test": 9}
    assert len(dataset.x_val) == 7 and len(dataset.x_test) == 9
    assert sorted(dataset.x_test[:, 0]) == list(range(200, 209))  # the test file, unshuffled into training
    assert set(dataset.info.fingerprint["files"]) == {str(tmp_path / f) for f in ("train.csv", "val.csv", "test.csv")}


def test_csv_given_test_file_leaves_validation_to_the_split(tmp_path):
    (tmp_path / "train.csv").write_text(table("a,b,label", labelled(30)))
    (tmp_path / "test.csv").write_text(table("a,b,label", labelled(9, start=200)))
    dataset = data.load(config_for(tmp_path, "{path: train.csv, target: label, test_path: test.csv}"))
    assert dataset.info.splits["test"] == 9
    assert dataset.info.splits["train"] + dataset.info.splits["validation"] == 30
    assert dataset.info.splits["validation"] == 3  # ceil(0.1 * 30)


@pytest.mark.parametrize("key", ["test_path", "validation_path"])
def test_csv_label_never_seen_in_training_is_an_error(tmp_path, key):
    (tmp_path / "train.csv").write_text(table("a,b,label", labelled(30)))
    (tmp_path / "other.csv").write_text(table("a,b,label", labelled(6, labels=("x", "y", "z"))))
    config = config_for(tmp_path, f"{{path: train.csv, target: label, {key}: other.csv}}")
    message = error_of(DataError, data.load, config)
    what = "test" if key == "test_path" else "validation"
    assert f"{what} labels ['z'] never appear in the training data" in message
    assert "column 'label'" in message


# -- npy pairs -------------------------------------------------------------------------------------


def write_npy(folder: Path, n_x: int = 40, n_y: int = 40) -> None:
    rng = np.random.default_rng(0)
    np.save(folder / "x.npy", rng.normal(size=(n_x, 3)).astype(np.float32))
    np.save(folder / "y.npy", np.arange(n_y) % 3)


@pytest.mark.parametrize("source", ["source: npy, ", ""])
def test_npy_pair_loads_with_explicit_or_inferred_source(tmp_path, source):
    write_npy(tmp_path)
    config = config_for(tmp_path, f"{{{source}path: x.npy, y_path: y.npy}}")
    assert config.data.source == "npy"
    probe = data.probe(config)
    dataset = data.load(config)
    assert (probe.input_shape, probe.task, probe.n_classes, probe.rows) == ((3,), "multiclass", 3, 40)
    assert (dataset.info.input_shape, dataset.info.task, dataset.info.classes) == ((3,), "multiclass", [0, 1, 2])
    assert sum(dataset.info.splits.values()) == 40
    assert set(dataset.info.fingerprint["files"]) == {str(tmp_path / "x.npy"), str(tmp_path / "y.npy")}


def test_npy_mismatched_lengths(tmp_path):
    write_npy(tmp_path, n_y=39)
    config = config_for(tmp_path, "{path: x.npy, y_path: y.npy}")
    for fn in (data.probe, data.load):
        message = error_of(DataError, fn, config)
        assert "has 40 rows" in message and "has 39" in message
        assert str(tmp_path / "x.npy") in message and str(tmp_path / "y.npy") in message


@pytest.mark.parametrize("source", ["source: npy, ", ""])
def test_npy_without_y_path_is_a_config_error(tmp_path, source):
    write_npy(tmp_path)
    message = error_of(ConfigError, config_for, tmp_path, f"{{{source}path: x.npy}}")
    assert "data.y_path: source 'npy' needs 'y_path'" in message
    assert message.startswith("x.yaml:1:")


def test_y_path_on_another_source_is_not_used(tmp_path):
    write_npy(tmp_path)
    (tmp_path / "t.csv").write_text(table("a,b,label", labelled(10)))
    message = error_of(ConfigError, config_for, tmp_path, "{path: t.csv, target: label, y_path: y.npy}")
    assert "data.y_path: not used by source 'csv'; remove it" in message


# -- synthetic -------------------------------------------------------------------------------------


def synthetic(folder: Path, name: str, more: str = "", extra: str = ""):
    return config_for(folder, f"{{source: synthetic, name: {name}{more}}}", extra)


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_synthetic_shapes_match_the_table(tmp_path, name):
    features, task, classes = SHAPES[name]
    config = synthetic(tmp_path, name, ", n_samples: 200")
    probe = data.probe(config)
    assert (probe.input_shape, probe.task, probe.n_classes, probe.rows) == ((features,), task, classes, 200)
    raw = data.read(config)
    assert raw.x.shape == (200, features) and raw.y.shape == (200,)
    dataset = data.load(config)
    assert (dataset.info.task, dataset.info.n_classes, dataset.info.input_shape) == (task, classes, (features,))
    assert sum(dataset.info.splits.values()) == 200
    if classes is not None:
        assert sorted(np.unique(raw.y)) == list(range(classes))


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_synthetic_seed_decides_the_arrays(tmp_path, name):
    first = data.read(synthetic(tmp_path, name, ", n_samples: 100, seed: 3"))
    again = data.read(synthetic(tmp_path, name, ", n_samples: 100, seed: 3"))
    other = data.read(synthetic(tmp_path, name, ", n_samples: 100, seed: 4"))
    np.testing.assert_array_equal(first.x, again.x)
    np.testing.assert_array_equal(first.y, again.y)
    assert not np.array_equal(first.x, other.x)


def test_synthetic_seed_defaults_to_the_run_seed(tmp_path):
    by_run = data.read(synthetic(tmp_path, "moons", ", n_samples: 50", extra="seed: 7\n"))
    by_data = data.read(synthetic(tmp_path, "moons", ", n_samples: 50, seed: 7"))
    by_other = data.read(synthetic(tmp_path, "moons", ", n_samples: 50", extra="seed: 8\n"))
    np.testing.assert_array_equal(by_run.x, by_data.x)
    assert not np.array_equal(by_run.x, by_other.x)


@pytest.mark.parametrize("n", [10, 123, 2000])
def test_synthetic_n_samples_is_respected(tmp_path, n):
    assert len(data.read(synthetic(tmp_path, "spiral", f", n_samples: {n}")).x) == n


def test_synthetic_noise_is_respected(tmp_path):
    clean = data.read(synthetic(tmp_path, "xor", ", noise: 0"))
    assert np.array_equal(clean.y, (clean.x[:, 0] * clean.x[:, 1] > 0).astype(clean.y.dtype))
    exact = data.read(synthetic(tmp_path, "linear", ", noise: 0"))
    np.testing.assert_allclose(exact.y, 3 * exact.x[:, 0] - 2 * exact.x[:, 1] + 0.5, atol=1e-5)
    noisy = data.read(synthetic(tmp_path, "linear", ", noise: 0.5, n_samples: 5000"))
    residual = noisy.y - (3 * noisy.x[:, 0] - 2 * noisy.x[:, 1] + 0.5)
    assert np.std(residual) == pytest.approx(0.5, rel=0.1)


def test_synthetic_defaults_are_recorded_in_the_resolved_config(tmp_path):
    config = synthetic(tmp_path, "circles")
    assert (DEFAULT_SAMPLES, DEFAULT_NOISE) == (1000, 0.1)
    dumped = config.dump()["data"]
    assert (dumped["source"], dumped["name"], dumped["n_samples"], dumped["noise"]) == (
        "synthetic",
        "circles",
        1000,
        0.1,
    )
    assert "seed" not in dumped  # left to the run's seed
    assert len(data.read(config).x) == 1000


@pytest.mark.parametrize(("key", "value"), [("n_samples", 100), ("noise", 0.2), ("seed", 1)])
def test_synthetic_keys_on_another_source_are_config_errors(tmp_path, key, value):
    (tmp_path / "t.csv").write_text(table("a,b,label", labelled(10)))
    message = error_of(ConfigError, config_for, tmp_path, f"{{path: t.csv, target: label, {key}: {value}}}")
    assert f"data.{key}: not used by source 'csv'; remove it" in message
    assert message.startswith("x.yaml:1:")


def test_synthetic_unknown_name_suggests(tmp_path):
    message = error_of(ConfigError, synthetic, tmp_path, "moon")
    assert "unknown synthetic dataset 'moon' (did you mean 'moons'?)" in message


def test_train_synthetic_xor_end_to_end(tmp_path):
    config = tmp_path / "xor.yaml"
    config.write_text("data: {source: synthetic, name: xor}\nmodel: {layers: [{units: 8}]}\n")
    result = invoke("train", config, "--set", "training.epochs=2", "--output-dir", tmp_path / "runs", "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    run = Path(payload["run_dir"])
    assert "accuracy" in payload["metrics"]
    saved = load_config(run / "config.yaml")
    assert (saved.data.n_samples, saved.data.noise, saved.training.epochs) == (1000, 0.1, 2)
    env = environment(run)["data"]
    assert env["source"] == "synthetic" and env["task"] == "binary"
    assert sum(env["splits"].values()) == 1000
    assert json.loads((run / "labels.json").read_text()) == [0, 1]


# -- keras -----------------------------------------------------------------------------------------


@pytest.fixture
def keras_home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "keras-home"
    (home / "datasets").mkdir(parents=True)
    monkeypatch.setenv("KERAS_HOME", str(home))
    return home


@pytest.fixture
def no_download(monkeypatch):
    def refuse(name):
        raise AssertionError(f"tried to download keras dataset {name!r}")

    monkeypatch.setattr(keras_datasets, "_download", refuse)


def test_keras_reads_the_cached_file_without_network(tmp_path, keras_home, no_download):
    cached = make_mnist_like(keras_home / "datasets" / "mnist.npz", n_train=120, n_test=40)
    before = cached.read_bytes()
    config = config_for(tmp_path, "{source: keras, name: mnist}")
    assert keras_datasets.cache_dir() == keras_home / "datasets"
    probe = data.probe(config)
    dataset = data.load(config)
    assert (probe.input_shape, probe.task, probe.n_classes) == ((28, 28), "multiclass", 10)
    assert dataset.info.input_shape == (28, 28) and dataset.info.classes == list(range(10))
    assert dataset.info.splits["test"] == 40  # the file's own x_test, not a split of x_train
    assert dataset.info.splits["train"] + dataset.info.splits["validation"] == 120
    with np.load(cached) as archive:
        np.testing.assert_array_equal(dataset.x_test, archive["x_test"].astype(np.float32))
    assert dataset.info.fingerprint["files"][str(cached)]["sha256"] == hashlib.sha256(before).hexdigest()
    assert cached.read_bytes() == before
    assert sorted(p.name for p in cached.parent.iterdir()) == ["mnist.npz"]


def _flip_a_byte(raw: bytes) -> bytes:
    at = raw.index(b"x_train.npy") + 300
    return raw[:at] + bytes([raw[at] ^ 0xFF]) + raw[at + 1 :]


def _wrong_keys(good: bytes, tmp: Path) -> bytes:
    np.savez(tmp / "w.npz", images=np.zeros((4, 28, 28), np.uint8))
    return (tmp / "w.npz").read_bytes()


@pytest.mark.parametrize(
    "corrupt",
    [
        pytest.param(lambda good, tmp: b"", id="empty"),
        pytest.param(lambda good, tmp: b"<html>proxy login page</html>" * 20, id="not-numpy"),
        pytest.param(_wrong_keys, id="wrong-keys"),
        pytest.param(lambda good, tmp: good[: len(good) // 2], id="truncated"),
        pytest.param(lambda good, tmp: _flip_a_byte(good), id="bad-crc"),
    ],
)
def test_keras_corrupt_cache_is_a_data_error_and_is_kept(tmp_path, keras_home, no_download, corrupt):
    cached = keras_home / "datasets" / "mnist.npz"
    good = make_mnist_like(tmp_path / "good.npz", n_train=60, n_test=20).read_bytes()
    bad = corrupt(good, tmp_path)
    cached.write_bytes(bad)
    message = error_of(DataError, data.load, config_for(tmp_path, "{source: keras, name: mnist}"))
    assert str(cached) in message
    assert "source: npz" in message
    assert cached.exists() and cached.read_bytes() == bad


def test_keras_unknown_name_suggests(tmp_path):
    message = error_of(ConfigError, config_for, tmp_path, "{source: keras, name: mnsit}")
    assert "data.name: unknown keras dataset 'mnsit' (did you mean 'mnist'?)" in message
    assert "fashion_mnist" in message


@pytest.mark.slow  # multi-process: dlcli offline in a fresh process
def test_keras_offline_validate_succeeds_and_train_fails_fast(tmp_path):
    home = tmp_path / "empty-keras-home"
    home.mkdir()
    config = tmp_path / "mnist.yaml"
    config.write_text("data: {source: keras, name: mnist}\ntraining: {epochs: 1}\n")
    dead = "http://127.0.0.1:9"  # discard port: nothing listens, so every request fails at once
    env = {k: v for k, v in os.environ.items() if k.lower() != "no_proxy"}
    env.update(KERAS_HOME=str(home), TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="-1")
    env.update({key: dead for key in ("https_proxy", "http_proxy", "HTTPS_PROXY", "HTTP_PROXY")})

    def run(*args):
        return subprocess.run(
            [sys.executable, "-m", "dlcli", *map(str, args)], cwd=ROOT, env=env, capture_output=True, text=True,
            timeout=60,
        )  # fmt: skip

    validate = run("validate", config)
    assert validate.returncode == 0, validate.stderr
    assert "multiclass, input (28, 28), 10 classes" in validate.stdout
    assert not (home / "datasets" / "mnist.npz").exists()

    started = time.monotonic()
    train = run("train", config, "--output-dir", tmp_path / "runs")
    assert time.monotonic() - started < 30
    assert train.returncode == 2, train.stderr
    cached = home / "datasets" / "mnist.npz"
    assert "keras dataset 'mnist': download failed" in train.stderr
    assert str(cached) in train.stderr
    assert "source: npz" in train.stderr
    assert "Traceback" not in train.stderr
    assert not cached.exists()
    assert not (tmp_path / "runs").exists()


# -- missing values --------------------------------------------------------------------------------

HOLES = {3: "a", 8: "b", 15: "a", 27: "b"}  # row index -> column left empty


def holey_rows(n: int = 40, labels=("x", "y"), holes=HOLES) -> list[list]:
    """Rows a, b, label whose feature means vary a lot from one split to another."""
    rng = np.random.default_rng(1)
    out = []
    for i in range(n):
        a, b = float(np.round(rng.exponential(10), 3)), float(np.round(rng.normal(50, 20), 3))
        row = [a, b, labels[i % len(labels)]]
        if i in holes:
            row["ab".index(holes[i])] = ""
        out.append(row)
    return out


def holey_csv(folder: Path, name: str = "t.csv", **kwargs) -> Path:
    path = folder / name
    path.write_text(table("a,b,label", holey_rows(**kwargs)))
    return path


def test_missing_error_names_the_file_column_and_lines(tmp_path):
    path = holey_csv(tmp_path)
    message = error_of(DataError, data.load, config_for(tmp_path, "{path: t.csv, target: label, missing: error}"))
    assert str(path) in message
    assert "column 'a' has missing values at lines 5, 17" in message  # file lines: index + 2
    assert "data.missing: drop | mean | median | zero" in message


def test_missing_drop_drops_the_rows_with_a_warning(tmp_path, capsys):
    holey_csv(tmp_path)
    dataset = data.load(config_for(tmp_path, "{path: t.csv, target: label, missing: drop}"))
    stderr = capsys.readouterr().err
    assert "dropped 4 row(s) with missing values (lines 5, 10, 17 and 1 more)" in stderr
    assert str(tmp_path / "t.csv") in stderr
    assert sum(dataset.info.splits.values()) == 36
    (tmp_path / "full.csv").write_text(table("a,b,label", holey_rows(holes={})))
    full = data.load(config_for(tmp_path, "{path: full.csv, target: label}"))
    assert sum(full.info.splits.values()) == 40
    assert all(dataset.info.splits[k] <= full.info.splits[k] for k in ("train", "validation", "test"))
    assert dataset.info.splits != full.info.splits
    assert dataset.info.fill is None


def _expected_fill(x: np.ndarray, policy: str) -> np.ndarray:
    return {"mean": np.nanmean, "median": np.nanmedian, "zero": lambda v, axis: np.zeros(v.shape[1])}[policy](
        x.astype(np.float64), axis=0
    )


@pytest.mark.parametrize("policy", ["mean", "median", "zero"])
def test_missing_fill_comes_from_the_training_split_only(tmp_path, monkeypatch, policy):
    holey_csv(tmp_path)
    seen = {}
    original = prepare_module.fill_values

    def spy(x_train, missing):
        seen["x_train"] = x_train.copy()
        return original(x_train, missing)

    monkeypatch.setattr(prepare_module, "fill_values", spy)
    dataset = data.load(config_for(tmp_path, f"{{path: t.csv, target: label, missing: {policy}}}"))
    before = seen["x_train"]
    assert len(before) == dataset.info.splits["train"]
    expected = _expected_fill(before, policy)
    np.testing.assert_allclose(dataset.info.fill, expected, rtol=1e-6)
    if policy != "zero":
        everything = data.read(config_for(tmp_path, "{path: t.csv, target: label, missing: mean}")).x
        assert not np.allclose(dataset.info.fill, _expected_fill(everything, policy))  # not the whole file's
    holes = np.isnan(before)
    assert holes.any()
    np.testing.assert_allclose(dataset.x_train[holes], expected[np.nonzero(holes)[1]], rtol=1e-6)
    for split in (dataset.x_train, dataset.x_val, dataset.x_test):
        assert not np.isnan(split).any()


@pytest.mark.parametrize("policy", ["mean", "median", "zero"])
def test_missing_fill_of_given_files_uses_the_training_file(tmp_path, policy):
    holey_csv(tmp_path, "train.csv")
    (tmp_path / "test.csv").write_text(table("a,b,label", [[1000, "", "x"], ["", 2000, "y"], [3, 4, "x"]]))
    (tmp_path / "val.csv").write_text(table("a,b,label", [["", 500, "x"], [600, 700, "y"]]))
    config = config_for(
        tmp_path,
        f"{{path: train.csv, target: label, test_path: test.csv, validation_path: val.csv, missing: {policy}}}",
    )
    dataset = data.load(config)
    train_x = data.read(config).x  # the training file alone, holes as NaN
    expected = _expected_fill(train_x, policy)
    np.testing.assert_allclose(dataset.info.fill, expected, rtol=1e-6)
    np.testing.assert_allclose(dataset.x_test[0, 1], expected[1], rtol=1e-6)
    np.testing.assert_allclose(dataset.x_test[1, 0], expected[0], rtol=1e-6)
    np.testing.assert_allclose(dataset.x_val[0, 0], expected[0], rtol=1e-6)
    assert dataset.x_test[0, 0] == 1000 and dataset.x_test[2].tolist() == [3, 4]


def _regression_rows(n: int = 40) -> list[list]:
    rng = np.random.default_rng(2)
    rows = []
    for i in range(n):
        a, b = rng.normal(size=2)
        rows.append([round(a, 4) if i % 9 else "", round(b, 4), round(2 * a - b, 4)])
    return rows


@pytest.fixture(scope="module")
def mean_run(tmp_path_factory) -> Path:
    """A tiny regression run trained on a CSV with holes, data.missing: mean."""
    folder = tmp_path_factory.mktemp("mean-run")
    (folder / "t.csv").write_text(table("a,b,label", _regression_rows()))
    config = "data: {path: t.csv, target: label, missing: mean}\nmodel: {layers: [{units: 4}]}\n"
    return train_run(folder, config, "training.epochs=1")


@pytest.fixture(scope="module")
def error_run(tmp_path_factory) -> Path:
    """A tiny classification run trained on a CSV without holes, data.missing left at error."""
    folder = tmp_path_factory.mktemp("error-run")
    (folder / "t.csv").write_text(table("a,b,label", labelled(40)))
    return train_run(folder, "data: {path: t.csv, target: label}\nmodel: {layers: [{units: 4}]}\n", "training.epochs=1")


def test_environment_records_missing_and_fill(mean_run, error_run):
    env = environment(mean_run)["data"]
    assert env["missing"] == "mean"
    again = data.load(load_config(mean_run / "config.yaml"))
    assert env["fill"] == pytest.approx(again.info.fill)
    assert len(env["fill"]) == 2 and env["fill"][1] != 0
    plain = environment(error_run)["data"]
    assert plain["missing"] == "error" and plain["fill"] is None


def test_predict_fills_holes_like_training_for_a_mean_run(mean_run, tmp_path):
    fill = environment(mean_run)["data"]["fill"]
    (tmp_path / "holes.csv").write_text("a,b\n,0.5\n1.0,\n0.25,0.75\n")
    (tmp_path / "filled.csv").write_text(f"a,b\n{fill[0]!r},0.5\n1.0,{fill[1]!r}\n0.25,0.75\n")
    outputs = []
    for name in ("holes.csv", "filled.csv"):
        out = tmp_path / f"{name}.out"
        result = invoke("predict", mean_run, tmp_path / name, "-o", out)
        assert result.exit_code == 0, result.output
        outputs.append(pd.read_csv(out)["prediction"].to_numpy())
    assert len(outputs[0]) == 3
    np.testing.assert_allclose(outputs[0], outputs[1], rtol=1e-6)


def test_predict_refuses_holes_for_an_error_run(error_run, tmp_path):
    (tmp_path / "holes.csv").write_text("a,b\n1,2\n,3\n")
    result = invoke("predict", error_run, tmp_path / "holes.csv")
    assert result.exit_code == 2
    assert str(tmp_path / "holes.csv") in result.stderr
    assert "column 'a' has missing values at line 3" in result.stderr
    assert "Traceback" not in result.output


# -- fingerprint -----------------------------------------------------------------------------------


def test_fingerprint_is_recorded_and_a_changed_file_warns(tmp_path):
    csv = tmp_path / "t.csv"
    csv.write_text(table("a,b,label", labelled(40)))
    run = train_run(
        tmp_path, "data: {path: t.csv, target: label}\nmodel: {layers: [{units: 4}]}\n", "training.epochs=1"
    )
    fingerprint = environment(run)["data"]
    raw = csv.read_bytes()
    assert fingerprint["files"] == {str(csv): {"sha256": hashlib.sha256(raw).hexdigest(), "bytes": len(raw)}}
    assert fingerprint["rows"] == 40
    assert fingerprint["columns"] == ["a", "b"]
    assert fingerprint["arrays_sha256"] is None  # a file is fingerprinted by its bytes

    unchanged = invoke("evaluate", run)
    assert unchanged.exit_code == 0, unchanged.output
    assert "changed" not in unchanged.stderr

    csv.write_text(table("a,b,label", labelled(40)).replace("\n5,2,y\n", "\n5,3,y\n"))
    assert csv.read_bytes() != raw
    changed = invoke("evaluate", run)
    assert changed.exit_code == 0, changed.output
    assert f"{csv} changed since training" in changed.stderr
    assert "accuracy" in changed.stdout
