"""``validate`` equals ``train``, as a property over every fixture.

For every config in ``configs/`` and every data fixture below, the layer table
and parameter count ``dlcli validate`` prints are exactly those of the Keras
model that ``train`` builds (through the same start-up and build functions
``train`` calls); for every file ``train`` refuses (the whole bad-data matrix
of ``test_bad_data``, plus the fixtures here meant to fail), ``validate``
refuses it too, exit 2, with the same message.
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import CONFIGS, invoke, make_mnist_like
from tests.test_bad_data import MATRIX

TRAIN = "training: {epochs: 1, plots: false}\n"


def _csv(name: str, header: str, rows, *, compress: bool = False):
    def write(folder: Path) -> None:
        text = header + "\n" + "".join(",".join(str(v) for v in row) + "\n" for row in rows)
        path = folder / name
        path.write_bytes(gzip.compress(text.encode())) if compress else path.write_text(text)

    return write


def rows_of(*columns) -> list[tuple]:
    return list(zip(*columns, strict=True))


RNG = np.random.default_rng(11)
N = 160
A, B = RNG.normal(size=N).round(3), RNG.normal(size=N).round(3)
CITY = [("Oslo", "Rome", "Lima", "Kyiv")[i % 4] for i in range(N)]
HOLEY_CITY = ["" if i % 9 == 0 else c for i, c in enumerate(CITY)]
LABEL = ["yes" if a + b > 0 else "no" for a, b in rows_of(A, B)]
CODE = [("3", "3.0", " 3.00", "5", "7")[i % 5] for i in range(N)]  # one category 3, written three ways
RARE = ["green" if i == N - 1 else ("red", "blue")[i % 2] for i in range(N)]  # 'green' in one row only
MASS = [int(round((4000 + 400 * a + 300 * b) / 25) * 25) for a, b in rows_of(A, B)]

# (id, files, data section, extra config text); each must train.
GOOD = [
    ("numbers", _csv("t.csv", "a,b,label", rows_of(A, B, LABEL)), "{path: t.csv, target: label}", ""),
    ("text category", _csv("t.csv", "a,city,label", rows_of(A, CITY, LABEL)), "{path: t.csv, target: label}", ""),
    (
        "category with holes (the (missing) category)",
        _csv("t.csv", "a,city,label", rows_of(A, HOLEY_CITY, LABEL)),
        "{path: t.csv, target: label, missing: mean}",
        "",
    ),
    (
        "numbers declared categorical, written three ways",
        _csv("t.csv", "a,code,label", rows_of(A, CODE, LABEL)),
        "{path: t.csv, target: label, categorical: [code]}",
        "",
    ),
    (
        "a category in one row only (maybe not in the training split)",
        _csv("t.csv", "a,colour,label", rows_of(A, RARE, LABEL)),
        "{path: t.csv, target: label}",
        "",
    ),
    (
        "embedding",
        _csv("t.csv", "a,city,label", rows_of(A, HOLEY_CITY, LABEL)),
        "{path: t.csv, target: label, missing: zero, embedding: {city: 3}}",
        "",
    ),
    (
        "gzip, streamed, category with holes",
        _csv("t.csv.gz", "a,city,label", rows_of(A, HOLEY_CITY, LABEL), compress=True),
        "{path: t.csv.gz, target: label, missing: mean, streaming: true}",
        "",
    ),
    (
        "whole grams with an empty target cell",
        _csv("t.csv", "a,b,mass", [(a, b, "" if i == 4 else m) for i, (a, b, m) in enumerate(rows_of(A, B, MASS))]),
        "{path: t.csv, target: mass}",
        "",
    ),
    (
        "0.0/1.0 target",
        _csv("t.csv", "a,b,y", [(a, b, float(lab == "yes")) for a, b, lab in rows_of(A, B, LABEL)]),
        "{path: t.csv, target: y}",
        "",
    ),
    (
        "more output units than labels",
        _csv("t.csv", "a,b,digit", [(a, b, (0, 1, 2, 4)[i % 4]) for i, (a, b) in enumerate(rows_of(A, B))]),
        "{path: t.csv, target: digit}",
        "model: {layers: [{units: 4}], output: {units: 6, activation: softmax}}\n",
    ),
]


def _config(folder: Path, data: str, extra: str) -> Path:
    path = folder / "c.yaml"
    model = "" if "model:" in extra else "model: {layers: [{units: 5, dropout: 0.1}]}\n"
    path.write_text(f"data: {data}\n{model}{extra}{TRAIN}")
    return path


def printed_table(stdout: str) -> tuple[list[tuple[str, ...]], int]:
    """(rows of validate's layer table, total params) from its output."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("layer "))
    rows = []
    for line in lines[start + 2 :]:
        if line.startswith("total params:"):
            return rows, int(line.split(":")[1].replace(",", ""))
        rows.append(tuple(re.split(r"\s{2,}", line.strip())))
    raise AssertionError(f"no total in {stdout}")


def built_table(config_path: Path, overrides=()) -> tuple[list[tuple[str, ...]], int]:
    """The same rows, read off the Keras model ``train`` builds for this config."""
    from dlcli.config.load import load_config
    from dlcli.training import plan

    session = plan.new_run(load_config(config_path, list(overrides)), device="cpu")
    net = session.model
    rows = []
    for tensor in net.inputs:
        shape = str(tuple(tensor.shape))
        if tensor.dtype == "string":
            rows.append((f"input {_column(session, tensor.name)}", "Input (string)", shape, "0"))
        else:
            rows.append(("input", "Input", shape, "0"))
    for layer in net.layers:
        kind = type(layer).__name__
        if kind == "InputLayer":
            continue
        detail = kind
        if kind in ("Dense", "Activation", "MemberDense"):
            detail += f" ({layer.activation.__name__})"
        if kind == "Dropout":
            detail += f" ({layer.rate:g})"
        rows.append((layer.name, detail, str(tuple(layer.output.shape)), f"{layer.count_params():,}"))
    return rows, net.count_params()


def _column(session, input_name: str) -> str:
    from dlcli.data.features import input_name as name_of

    return next(c for c in session.dataset.info.vocab if name_of(c) == input_name)


def assert_same(config_path: Path, overrides=()):
    sets = [a for o in overrides for a in ("--set", o)]
    checked = invoke("validate", config_path, *sets)
    assert checked.exit_code == 0, checked.output
    printed, printed_total = printed_table(checked.stdout)
    built, built_total = built_table(config_path, overrides)
    assert sorted(printed) == sorted(built), f"validate:\n{checked.stdout}\nbuilt: {built}"
    assert printed_total == built_total


EXAMPLES = sorted(p.name for p in CONFIGS.glob("*.yaml"))


@pytest.mark.parametrize("name", EXAMPLES)
def test_every_example_config_validates_to_the_model_train_builds(tmp_path, name):
    overrides = []
    if name == "mnist.yaml":  # the real file is a download: an mnist-shaped stand-in
        overrides.append(f"data.path={make_mnist_like(tmp_path / 'mnist.npz')}")
    if name == "digits_mirrored.yaml":
        overrides.append("training.cpu_devices=2")
    assert_same(CONFIGS / name, overrides)


@pytest.mark.parametrize("case", GOOD, ids=[g[0] for g in GOOD])
def test_every_table_fixture_validates_to_the_model_train_builds(tmp_path, case):
    _, files, data, extra = case
    files(tmp_path)
    assert_same(_config(tmp_path, data, extra))


def test_the_fixture_set_covers_what_it_claims():
    assert len(EXAMPLES) >= 16 and len(GOOD) >= 10 and len(MATRIX) >= 30 and len(BAD) >= 5


BAD = [
    (
        "a hole with missing: error",
        _csv("t.csv", "a,city,label", rows_of(A, HOLEY_CITY, LABEL)),
        "{path: t.csv, target: label}",
    ),
    (
        "a word among numbers",
        _csv(
            "t.csv", "a,b,label", [(a, "x" if i == 9 else b, lab) for i, (a, b, lab) in enumerate(rows_of(A, B, LABEL))]
        ),
        "{path: t.csv, target: label}",
    ),  # fmt: skip
    (
        "an empty target with target_missing: error",
        _csv("t.csv", "a,b,mass", [(a, b, "" if i == 4 else m) for i, (a, b, m) in enumerate(rows_of(A, B, MASS))]),
        "{path: t.csv, target: mass, target_missing: error}",
    ),
    (
        "a test file with a label the training file lacks",
        lambda folder: [
            _csv("t.csv", "a,b,label", rows_of(A, B, LABEL))(folder),
            _csv("u.csv", "a,b,label", [(1.0, 2.0, "maybe"), (0.5, 0.1, "yes")])(folder),
        ],
        "{path: t.csv, test_path: u.csv, target: label}",
    ),
    (
        "an identifier column",
        _csv("t.csv", "a,name,label", [(a, f"person{i}", lab) for i, (a, lab) in enumerate(rows_of(A, LABEL))]),
        "{path: t.csv, target: label}",
    ),
]


def _refused_alike(folder: Path, config: Path) -> None:
    trained = invoke("train", config, "--output-dir", folder / "runs", "-q")
    checked = invoke("validate", config)
    if trained.exit_code == 0:  # a fixture that trains must validate
        assert checked.exit_code == 0, checked.output
        return
    assert trained.exit_code == 2, trained.output
    assert checked.exit_code == 2, f"train refused, validate passed:\n{trained.stderr}\n{checked.output}"
    assert checked.stderr.strip() == trained.stderr.strip()


@pytest.mark.parametrize("bad", MATRIX, ids=[b.kind for b in MATRIX])
def test_validate_refuses_every_bad_file_train_refuses_with_the_same_message(tmp_path, bad):
    bad.files(tmp_path)
    config = tmp_path / "bad.yaml"
    config.write_text(f"data: {bad.data}\n{bad.extra}{TRAIN}", encoding="utf-8")
    _refused_alike(tmp_path, config)


@pytest.mark.parametrize("case", BAD, ids=[b[0] for b in BAD])
def test_validate_refuses_these_fixtures_as_train_does(tmp_path, case):
    _, files, data = case
    files(tmp_path)
    config = _config(tmp_path, data, "")
    assert invoke("validate", config).exit_code == 2
    _refused_alike(tmp_path, config)
