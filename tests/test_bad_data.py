"""The bad-data matrix: broken data files through ``dlcli train``, each a one-line error (exit 2).

Every row writes its files to a fresh folder, runs ``dlcli train CONFIG
--output-dir DIR`` and checks: exit code 2, no traceback, the message names
the file (and the column / line / row / value where there is one), and no run
directory was made.

==========================================  =======  =========================================================================
kind                                        format   message fragment (actual)
==========================================  =======  =========================================================================
non-numeric string in a numeric column      CSV      column 'b', line 4: 'seven' is not a number
non-numeric string in a numeric column      TSV      column 'b', line 3: 'n/a?' is not a number
non-numeric string in a numeric column      parquet  column 'a', row 2: 'abc' is not a number
target column missing                       CSV      data.target: no column 'label' in FILE (did you mean 'labels'?)
target column missing                       parquet  data.target: no column 'label' in FILE (did you mean 'Label'?)
empty file                                  CSV      the file is empty
header-only file                            CSV      has a header but no data rows
ragged rows: a row with too many fields     CSV      Expected 3 fields in line 3, saw 4; every row needs the same number
ragged rows: a row with too few fields      CSV      line 22 has 2 field(s) but the header has 3
ragged rows: too few fields, missing: mean  CSV      line 22 has 2 field(s) but the header has 3
single-class target                         CSV      column 'label': the target has a single class ('x' in every row)
task: regression on a string target         CSV      column 'label': task is regression but the target is not numeric
missing values (missing: error)             CSV      column 'a' has missing values at lines 3, 5
missing values (missing: error)             parquet  column 'a' has missing values at row 8
missing target values (target_missing: error) CSV    column 'label' is empty at line 4
infinite value                              CSV      column 'b', line 3: inf is not a finite number
non-UTF-8 bytes                             CSV      not a UTF-8 text file; save the table as UTF-8 CSV
not a Parquet file                          parquet  not a readable Parquet file (Parquet magic bytes not found ...)
npz with wrong keys                         npz      expected arrays x_train, y_train (...) or x, y; found features, labels
npz x/y length mismatch                     npz      'x' has 50 rows but 'y' has 49; they must match
npz object array (needs pickle)             npz      array 'x' cannot be read without pickle
npz with a damaged member (bad CRC)         npz      array 'x' is damaged (Bad CRC-32 ...)
empty npz arrays                            npz      'x' has no rows
npz features as strings                     npz      'x' has dtype <U3; features must be numbers
npy labels with many columns                npy      '.../y.npy' has shape (50, 3); expected one label or value per row
npy x/y length mismatch                     npy      'features' has 50 rows but '.../y.npy' has 40
npy features with one dimension             npy      'features' has shape (50,); expected one row per sample
features list naming a missing column       CSV      data.features: no column 'c' in FILE; columns: a, b, label
test file whose columns differ              CSV      TEST: feature columns ['a', 'c'] differ from FILE's ['a', 'b']
validation file with an unseen label        CSV      column 'label': validation labels ['z'] never appear in the training data
==========================================  =======  =========================================================================
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from dlcli.cli import cli


@dataclass(frozen=True)
class Bad:
    """One row of the matrix: files to write, the data section, and what the error must say."""

    kind: str
    files: Callable[[Path], None]
    data: str
    fragments: tuple[str, ...]
    names: str  # the file the message must name
    extra: str = ""
    xfail: str | None = None


def rows(n: int = 20, labels=("x", "y")) -> list[list]:
    return [[i, i * 0.5, labels[i % len(labels)]] for i in range(n)]


def csv_text(header: str, body, sep: str = ",") -> str:
    return header.replace(",", sep) + "\n" + "".join(sep.join(str(v) for v in row) + "\n" for row in body)


def with_row(index: int, row, body=None, n: int = 20) -> list[list]:
    """``rows(n)`` with row ``index`` (0-based; file line ``index + 2``) replaced."""
    body = rows(n) if body is None else body
    body[index] = row
    return body


def text_file(name: str, text: str | bytes) -> Callable[[Path], None]:
    def write(folder: Path) -> None:
        path = folder / name
        path.write_bytes(text) if isinstance(text, bytes) else path.write_text(text, encoding="utf-8")

    return write


def files(*writers: Callable[[Path], None]) -> Callable[[Path], None]:
    def write(folder: Path) -> None:
        for writer in writers:
            writer(folder)

    return write


def parquet_file(name: str, frame_args: dict) -> Callable[[Path], None]:
    def write(folder: Path) -> None:
        import pandas as pd

        pd.DataFrame(frame_args).to_parquet(folder / name)

    return write


def npz_file(name: str, **arrays) -> Callable[[Path], None]:
    def write(folder: Path) -> None:
        np.savez(folder / name, **arrays)

    return write


def npy_file(name: str, array) -> Callable[[Path], None]:
    def write(folder: Path) -> None:
        np.save(folder / name, array, allow_pickle=False)

    return write


def damaged_npz(name: str) -> Callable[[Path], None]:
    """A valid archive with one byte of the features flipped: the zip's CRC check fails on read."""

    def write(folder: Path) -> None:
        path = folder / name
        rng = np.random.default_rng(0)
        np.savez(path, x=rng.normal(size=(50, 3)).astype(np.float32), y=rng.integers(0, 2, 50))
        raw = bytearray(path.read_bytes())
        raw[raw.index(b"x.npy") + 200] ^= 0xFF
        path.write_bytes(bytes(raw))

    return write


RNG = np.random.default_rng(0)
X50 = RNG.normal(size=(50, 3)).astype(np.float32)
Y50 = RNG.integers(0, 2, 50)
TABLE = "{path: t.csv, target: label}"
PARQUET_ROWS = {"a": [float(i) for i in range(20)], "b": list(range(20)), "label": ["cat", "dog"] * 10}
PARQUET_HOLE = {**PARQUET_ROWS, "a": [np.nan if i == 7 else float(i) for i in range(20)]}
PARQUET_TEXT = {**PARQUET_ROWS, "a": ["abc" if i == 1 else str(i) for i in range(20)]}
SHORT_ROW = csv_text("a,b,label", rows()) + "9,y\n"  # line 22 lost its last field

MATRIX = [
    Bad(
        "non-numeric string in a numeric column (CSV)",
        text_file("t.csv", csv_text("a,b,label", with_row(2, [5, "seven", "x"]))),
        TABLE,
        ("column 'b'", "line 4", "'seven' is not a number"),
        "t.csv",
    ),
    Bad(
        "non-numeric string in a numeric column (TSV)",
        text_file("t.tsv", csv_text("a,b,label", with_row(1, [3, "n/a?", "y"]), sep="\t")),
        "{path: t.tsv, target: label}",
        ("column 'b'", "line 3", "'n/a?' is not a number"),
        "t.tsv",
    ),
    Bad(
        "non-numeric string in a numeric column (parquet)",
        parquet_file("t.parquet", PARQUET_TEXT),
        "{path: t.parquet, target: label}",
        ("column 'a'", "row 2", "'abc' is not a number"),
        "t.parquet",
    ),
    Bad(
        "target column missing (CSV)",
        text_file("t.csv", csv_text("a,b,labels", rows())),
        TABLE,
        ("data.target: no column 'label'", "did you mean 'labels'?", "columns: a, b, labels"),
        "t.csv",
    ),
    Bad(
        "target column missing (parquet)",
        parquet_file("t.parquet", {"a": [1.0, 2.0], "Label": ["x", "y"]}),
        "{path: t.parquet, target: label}",
        ("data.target: no column 'label'", "did you mean 'Label'?"),
        "t.parquet",
    ),
    Bad("empty file", text_file("t.csv", ""), TABLE, ("the file is empty",), "t.csv"),
    Bad("header-only file", text_file("t.csv", "a,b,label\n"), TABLE, ("has a header but no data rows",), "t.csv"),
    Bad(
        "ragged rows: a row with too many fields",
        text_file("t.csv", csv_text("a,b,label", with_row(1, [3, 4, 9, "y"]))),
        TABLE,
        ("line 3", "same number of fields"),
        "t.csv",
    ),
    Bad(
        "ragged rows: a row with too few fields",
        text_file("t.csv", SHORT_ROW),
        TABLE,
        ("line 22", "fields"),
        "t.csv",
    ),
    Bad(
        "ragged rows: too few fields with missing: mean",
        text_file("t.csv", "label,a,b\n" + "".join(f"{'xy'[i % 2]},{i},{i * 2}\n" for i in range(20)) + "x,5\n"),
        "{path: t.csv, target: label, missing: mean}",
        ("line 22", "fields"),
        "t.csv",
    ),
    Bad(
        "single-class target",
        text_file("t.csv", csv_text("a,b,label", rows(labels=("x",)))),
        TABLE,
        ("column 'label'", "single class ('x' in every row)"),
        "t.csv",
    ),
    Bad(
        "task: regression on a string target",
        text_file("t.csv", csv_text("a,b,label", rows())),
        TABLE,
        ("column 'label'", "task is regression but the target is not numeric"),
        "t.csv",
        extra="task: regression\n",
    ),
    Bad(
        "missing values (missing: error, CSV)",
        text_file("t.csv", csv_text("a,b,label", with_row(3, ["NA", 1, "y"], with_row(1, ["", 1, "y"])))),
        "{path: t.csv, target: label, missing: error}",
        ("column 'a' has missing values at lines 3, 5", "data.missing"),
        "t.csv",
    ),
    Bad(
        "missing values (missing: error, parquet)",
        parquet_file("t.parquet", PARQUET_HOLE),
        "{path: t.parquet, target: label, missing: error}",
        ("column 'a' has missing values at row 8", "data.missing"),
        "t.parquet",
    ),
    Bad(
        "missing target values (data.target_missing: error)",
        text_file("t.csv", csv_text("a,b,label", with_row(2, [4, 2, ""]))),
        "{path: t.csv, target: label, target_missing: error}",
        ("column 'label' is empty at line 4", "data.target_missing"),
        "t.csv",
    ),
    Bad(
        "infinite value",
        text_file("t.csv", csv_text("a,b,label", with_row(1, [3, "inf", "y"]))),
        TABLE,
        ("column 'b', line 3", "inf is not a finite number"),
        "t.csv",
    ),
    Bad(
        "non-UTF-8 bytes",
        text_file("t.csv", csv_text("a,b,label", rows()).encode() + b"1,2,caf\xe9\n"),
        TABLE,
        ("not a UTF-8 text file",),
        "t.csv",
    ),
    Bad(
        "not a Parquet file",
        text_file("t.parquet", b"PAR1 this is not really parquet"),
        "{path: t.parquet, target: label}",
        ("not a readable Parquet file",),
        "t.parquet",
    ),
    Bad(
        "npz with wrong keys",
        npz_file("d.npz", features=X50, labels=Y50),
        "{path: d.npz}",
        ("expected arrays x_train, y_train", "found features, labels"),
        "d.npz",
    ),
    Bad(
        "npz x/y length mismatch",
        npz_file("d.npz", x=X50, y=Y50[:49]),
        "{path: d.npz}",
        ("'x' has 50 rows but 'y' has 49",),
        "d.npz",
    ),
    Bad(
        "npz object array (needs pickle)",
        npz_file("d.npz", x=np.array([[1, "a"], [2, None]] * 25, dtype=object), y=Y50),
        "{path: d.npz}",
        ("array 'x' cannot be read without pickle",),
        "d.npz",
    ),
    Bad(
        "npz with a damaged member (bad CRC)",
        damaged_npz("d.npz"),
        "{path: d.npz}",
        ("d.npz",),
        "d.npz",
    ),
    Bad(
        "empty npz arrays",
        npz_file("d.npz", x=np.empty((0, 3), np.float32), y=np.empty(0, np.int64)),
        "{path: d.npz}",
        ("'x' has no rows",),
        "d.npz",
    ),
    Bad(
        "npz features as strings",
        npz_file("d.npz", x=np.array([["abc", "def"]] * 50), y=Y50),
        "{path: d.npz}",
        ("'x' has dtype <U3", "features must be numbers"),
        "d.npz",
    ),
    Bad(
        "npy labels with many columns",
        files(npy_file("x.npy", X50), npy_file("y.npy", RNG.integers(0, 2, (50, 3)))),
        "{path: x.npy, y_path: y.npy}",
        ("y.npy' has shape (50, 3)", "expected one label or value per row"),
        "y.npy",
    ),
    Bad(
        "npy x/y length mismatch",
        files(npy_file("x.npy", X50), npy_file("y.npy", Y50[:40])),
        "{path: x.npy, y_path: y.npy}",
        ("'features' has 50 rows", "y.npy' has 40"),
        "x.npy",
    ),
    Bad(
        "npy features with one dimension",
        files(npy_file("x.npy", X50[:, 0]), npy_file("y.npy", Y50)),
        "{source: npy, path: x.npy, y_path: y.npy}",
        ("has shape (50,)", "one row per sample"),
        "x.npy",
    ),
    Bad(
        "features list naming a missing column",
        text_file("t.csv", csv_text("a,b,label", rows())),
        "{path: t.csv, target: label, features: [a, c]}",
        ("data.features: no column 'c'", "columns: a, b, label"),
        "t.csv",
    ),
    Bad(
        "test file whose columns differ",
        files(
            text_file("t.csv", csv_text("a,b,label", rows())),
            text_file("test.csv", csv_text("a,c,label", rows(6))),
        ),
        "{path: t.csv, target: label, test_path: test.csv}",
        ("feature columns ['a', 'c'] differ", "['a', 'b']"),
        "test.csv",
    ),
    Bad(
        "validation file with an unseen label",
        files(
            text_file("t.csv", csv_text("a,b,label", rows())),
            text_file("val.csv", csv_text("a,b,label", rows(6, labels=("x", "z")))),
        ),
        "{path: t.csv, target: label, validation_path: val.csv}",
        ("column 'label'", "validation labels ['z'] never appear in the training data"),
        "t.csv",
    ),
]


def _param(bad: Bad):
    marks = [pytest.mark.xfail(strict=True, reason=bad.xfail)] if bad.xfail else []
    return pytest.param(bad, id=bad.kind, marks=marks)


def train(folder: Path, bad: Bad):
    bad.files(folder)
    config = folder / "bad.yaml"
    config.write_text(f"data: {bad.data}\n{bad.extra}training: {{epochs: 1}}\n", encoding="utf-8")
    out = folder / "runs"
    return CliRunner().invoke(cli, ["train", str(config), "--output-dir", str(out), "-q"]), out


@pytest.mark.parametrize("bad", [_param(b) for b in MATRIX])
def test_bad_data_is_a_one_line_error_naming_the_file(tmp_path, bad):
    result, out = train(tmp_path, bad)
    message = result.stderr
    assert result.exit_code == 2, f"exit {result.exit_code}: {result.output}"
    assert "Traceback" not in result.output and "internal error" not in message
    assert message.startswith("error: ") or message.startswith(f"{tmp_path / 'bad.yaml'}:"), message
    assert str((tmp_path / bad.names).resolve()) in message, message
    for fragment in bad.fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert len(message.strip().splitlines()) <= 3, message
    assert not out.exists() or not any(out.iterdir()), f"a run directory was made: {list(out.iterdir())}"


def test_regression_on_strings_shows_the_plain_value(tmp_path):
    bad = next(b for b in MATRIX if b.kind == "task: regression on a string target")
    result, _ = train(tmp_path, bad)
    assert result.exit_code == 2
    assert "(e.g. 'x')" in result.stderr, result.stderr


def test_the_matrix_is_big_enough():
    kinds = [b.kind for b in MATRIX]
    assert len(kinds) == len(set(kinds))
    assert len(MATRIX) >= 12
    assert sum(b.xfail is None for b in MATRIX) >= 12
