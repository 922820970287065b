"""Table files as people save them (issue 14, items 5 and 6): other delimiters, decimal commas, compressed files.

Every reader agrees: the probe (csv module), the in-memory read (pandas), the
stream (tf.data), ``predict`` and ``evaluate --data``. A file that would be
misread is a located one-line error naming the key to set.
"""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import zipfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from dlcli.cli import cli
from dlcli.config.load import load_config_text
from dlcli.data import load as data
from dlcli.data import sources, table, tablefile
from dlcli.errors import ConfigError, DataError
from tests.conftest import ROOT

ROWS = [(5.1, 3.5, "setosa"), (4.9, 3.0, "setosa"), (6.4, 3.2, "versicolor"), (6.9, 3.1, "versicolor")] * 6


def text(delimiter: str = ",", decimal: str = ".", quote: bool = False) -> str:
    """A small table with the given delimiter and decimal mark; numbers quoted when they hold the delimiter."""

    def cell(value: float) -> str:
        shown = f"{value:.2f}".replace(".", decimal)
        return f'"{shown}"' if quote or delimiter in shown else shown

    lines = [delimiter.join(["length", "width", "kind"])]
    lines += [delimiter.join([cell(a), cell(b), kind]) for a, b, kind in ROWS]
    return "\n".join(lines) + "\n"


def config_for(folder: Path, path: str, extra: str = ""):
    return load_config_text(f"data: {{path: {path}, target: kind{extra}}}\n", "x.yaml", base_dir=folder)


def read(folder: Path, name: str, body: str, extra: str = ""):
    (folder / name).write_text(body, encoding="utf-8")
    x, y, features, categorical = table.read_table(str(folder / name), config_for(folder, name, extra))
    return x, y, features, categorical


def error_of(fn, *args) -> str:
    with pytest.raises(DataError) as info:
        fn(*args)
    assert info.value.exit_code == 2 and "\n" not in str(info.value)
    return str(info.value)


EXPECTED = np.array([(a, b) for a, b, _ in ROWS], dtype=np.float32)


@pytest.mark.parametrize(
    ("delimiter", "decimal", "extra"),
    [(";", ",", ", decimal: ','"), ("|", ".", ""), ("\t", ".", ""), (",", ",", ", decimal: ','"), (";", ".", "")],
)
def test_the_delimiter_is_found_from_the_header_and_the_decimal_mark_is_the_configs(
    tmp_path, delimiter, decimal, extra
):
    x, y, features, categorical = read(tmp_path, "t.csv", text(delimiter, decimal), extra)
    np.testing.assert_allclose(x, EXPECTED)
    assert features == ["length", "width"] and categorical == []
    assert sorted(set(y)) == ["setosa", "versicolor"]
    probe = data.probe(config_for(tmp_path, "t.csv", extra))
    assert probe.input_shape == (2,) and probe.vocab_sizes == {} and probe.rows == len(ROWS)


def test_decimal_commas_in_a_numeric_target_are_a_regression(tmp_path):
    body = "a;price\n" + "".join(f"{i};{i * 1.5:.1f}\n".replace(".", ",") for i in range(20))
    (tmp_path / "t.csv").write_text(body)
    cfg = load_config_text("data: {path: t.csv, target: price, decimal: ','}\n", "x.yaml", base_dir=tmp_path)
    _, y, _, _ = table.read_table(str(tmp_path / "t.csv"), cfg)
    assert y.dtype.kind == "f" and y[3] == 4.5
    assert data.probe(cfg).task == "regression"


def test_numbers_with_the_other_decimal_mark_are_a_located_error_naming_data_decimal(tmp_path):
    (tmp_path / "t.csv").write_text(text(",", ",", quote=True))
    cfg = config_for(tmp_path, "t.csv")
    for fn in (data.probe, data.read):
        said = error_of(fn, cfg)
        assert said.startswith("x.yaml:1:7: data.decimal: column 'length' of ")
        assert "(e.g. '4,90')" in said and 'set data.decimal: ","' in said and "data.categorical" in said
    (tmp_path / "p.csv").write_text(text(";", "."))
    said = error_of(data.read, config_for(tmp_path, "p.csv", ", decimal: ','"))
    assert "x.yaml:1:44: data.decimal: column 'length'" in said and 'set data.decimal: "."' in said


def test_a_column_declared_categorical_keeps_its_decimal_commas_as_categories(tmp_path):
    x, _, _, categorical = read(tmp_path, "t.csv", text(";", ","), ", categorical: [length, width]")
    assert categorical == ["length", "width"] and "5,10" in set(x["length"])


def test_a_target_written_with_the_other_decimal_mark_is_an_error(tmp_path):
    (tmp_path / "t.csv").write_text("a;price\n" + "".join(f"{i};{i}\n" for i in range(5)) + "5;2,5\n")
    cfg = load_config_text("data: {path: t.csv, target: price}\n", "x.yaml", base_dir=tmp_path)
    for fn in (data.probe, data.read):
        assert "data.decimal: column 'price'" in error_of(fn, cfg)


def test_whole_numbers_beside_decimal_commas_name_data_decimal_too(tmp_path):
    body = "a;kind\n" + "".join(f"{i};x\n{i},5;y\n" for i in range(5))
    said = error_of(read, tmp_path, "t.csv", body)
    assert said.endswith("t.csv: column 'a', line 3: '0,5' is not a number (5 such value(s)); set data.decimal: \",\"")


def test_a_header_split_by_two_delimiters_is_an_error_unless_one_is_set(tmp_path):
    (tmp_path / "t.csv").write_text("length;width,kind\n1;2,a\n")
    said = error_of(data.probe, config_for(tmp_path, "t.csv"))
    assert said.startswith("x.yaml:1:7: data.delimiter: ") and "line 1: the header is split by" in said
    said = error_of(tablefile.header, str(tmp_path / "t.csv"))
    assert said.endswith("t.csv: line 1: the header is split by ',' and ';'; set data.delimiter to the one "
                         "between the columns")  # fmt: skip
    assert tablefile.header(str(tmp_path / "t.csv"), ";") == ["length", "width,kind"]
    (tmp_path / "t.tsv").write_text("a,b\tc\n1\t2\n")  # a .tsv's tabs win over commas in its names
    assert tablefile.header(str(tmp_path / "t.tsv")) == ["a,b", "c"]


def test_an_explicit_delimiter_or_decimal_mark_is_one_dlcli_reads(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config_text("data: {path: t.csv, target: kind, delimiter: ':'}\n", "x.yaml", base_dir=tmp_path)
    assert (
        str(info.value)
        == "x.yaml:1:46: data.delimiter: ':' is not a delimiter dlcli reads; one of ',' ';' '\\t' (tab) '|'"
    )
    with pytest.raises(ConfigError) as info:
        load_config_text("data: {path: t.csv, target: kind, decimal: ';'}\n", "x.yaml", base_dir=tmp_path)
    assert str(info.value) == "x.yaml:1:44: data.decimal: ';' is not a decimal dlcli reads; one of '.' ','"


def compress(path: Path, kind: str) -> Path:
    raw = path.read_bytes()
    if kind == ".zip":
        out = path.with_suffix(".zip")
        with zipfile.ZipFile(out, "w") as archive:
            archive.writestr("inside.csv", raw)
        return out
    out = path.with_name(path.name + kind)
    if kind == ".zst":
        import zstandard

        out.write_bytes(zstandard.ZstdCompressor().compress(raw))
    else:
        out.write_bytes({".gz": gzip, ".bz2": bz2, ".xz": lzma}[kind].compress(raw))
    return out


@pytest.mark.parametrize("kind", [".gz", ".bz2", ".zst", ".xz", ".zip"])
def test_compressed_csvs_read_as_the_plain_file_does(tmp_path, kind):
    (tmp_path / "t.csv").write_text(text(";", ","))
    packed = compress(tmp_path / "t.csv", kind)
    assert sources.for_file(packed, "read_inputs") is sources.module("csv")
    cfg = load_config_text(f"data: {{path: {packed.name}, target: kind, decimal: ','}}\n", "x.yaml", base_dir=tmp_path)
    assert cfg.data.source == "csv"  # inferred through the compression suffix
    x, y, _, _ = table.read_table(str(packed), cfg)
    np.testing.assert_allclose(x, EXPECTED)
    assert data.probe(cfg).rows == len(ROWS)


def test_a_zip_with_several_files_or_a_corrupt_file_is_a_one_line_error(tmp_path):
    with zipfile.ZipFile(tmp_path / "two.zip", "w") as archive:
        archive.writestr("a.csv", "a,b\n1,2\n")
        archive.writestr("b.csv", "a,b\n1,2\n")
    assert error_of(tablefile.header, str(tmp_path / "two.zip")).endswith("a .zip must hold exactly one CSV file; "
                                                                          "it holds 2")  # fmt: skip
    (tmp_path / "bad.csv.gz").write_bytes(b"not gzip at all")
    assert "bad.csv.gz: not a readable .gz file" in error_of(tablefile.header, str(tmp_path / "bad.csv.gz"))


def test_a_gzip_file_streams_with_decimal_commas_as_it_reads_in_memory(tmp_path):
    body = "a;b;target\n" + "".join(f"{i / 7:.3f};{i % 5};{'hi' if i % 3 else 'lo'}\n" for i in range(300))
    (tmp_path / "t.csv").write_text(body.replace(".", ","))
    packed = compress(tmp_path / "t.csv", ".gz")
    cfg = load_config_text(
        f"data: {{path: {packed.name}, target: target, decimal: ',', streaming: true, test_split: 0.3}}\n",
        "x.yaml",
        base_dir=tmp_path,
    )
    streamed = data.load(cfg)
    got = np.concatenate(
        [x.numpy() for split in ("train", "validation", "test") for x, _ in streamed.dataset(split, 64)]
    )
    memory, _, _, _ = table.read_table(str(packed), cfg)
    assert sorted(map(tuple, got.tolist())) == sorted(map(tuple, memory.tolist()))


def test_other_compressions_are_refused_for_streaming_with_the_fix(tmp_path):
    (tmp_path / "t.csv").write_text(text())
    packed = compress(tmp_path / "t.csv", ".bz2")
    cfg = config_for(tmp_path, packed.name, ", streaming: true")
    said = error_of(data.load, cfg)
    assert said.startswith("x.yaml:1:50: data.streaming: ") and "set data.streaming: false" in said


def test_train_refuses_decimal_commas_then_trains_predicts_and_evaluates_compressed_files(tmp_path):
    (tmp_path / "t.csv").write_text(text(",", ",", quote=True))
    config = tmp_path / "c.yaml"
    config.write_text("data: {path: t.csv, target: kind}\ntraining: {epochs: 2}\n")
    runner = CliRunner()
    refused = runner.invoke(cli, ["train", str(config), "--output-dir", str(tmp_path / "runs")])
    assert refused.exit_code == 2 and "Traceback" not in refused.output
    assert "data.decimal: column 'length'" in refused.output and 'set data.decimal: ","' in refused.output
    args = ["train", str(config), "--set", "data.decimal=,", "--output-dir", str(tmp_path / "runs"), "--json"]
    trained = runner.invoke(cli, args)
    assert trained.exit_code == 0, trained.output
    run = json.loads(trained.stdout)["run_dir"]
    packed = compress(tmp_path / "t.csv", ".gz")
    out = tmp_path / "p.csv"
    predicted = runner.invoke(cli, ["predict", run, str(packed), "-o", str(out)])
    assert predicted.exit_code == 0, predicted.output
    assert len(out.read_text().splitlines()) == len(ROWS) + 1
    scored = runner.invoke(cli, ["evaluate", run, "--data", str(compress(tmp_path / "t.csv", ".xz")), "--json"])
    assert scored.exit_code == 0, scored.output
    assert "accuracy" in json.loads(scored.stdout)["metrics"]


def test_the_example_config_reads_its_semicolon_decimal_comma_file():
    from dlcli.config.load import load_config

    cfg = load_config(ROOT / "configs" / "iris_eu.yaml")
    x, y, _, categorical = table.read_table(cfg.data.path, cfg)
    plain = load_config(ROOT / "configs" / "iris_csv.yaml")
    x_plain, y_plain, _, _ = table.read_table(plain.data.path, plain)
    np.testing.assert_array_equal(x, x_plain)
    assert categorical == [] and y.tolist() == y_plain.tolist()


def test_streaming_auto_streams_a_large_gzip_file_but_reads_other_compressions_in_memory(tmp_path, monkeypatch):
    from dlcli.data.formats import csv

    monkeypatch.setattr(csv, "STREAM_ABOVE_BYTES", 0)
    (tmp_path / "t.csv").write_text(text())
    for kind, streamed in ((".gz", True), (".bz2", False), (".zip", False)):
        packed = compress(tmp_path / "t.csv", kind)
        assert csv.streams(config_for(tmp_path, packed.name)) is streamed, kind


def test_evaluate_data_written_with_the_other_decimal_mark_names_the_way_to_score_it(tmp_path):
    """A run trained on decimal commas, scored on a point-written file: exit 2 naming the config that reads it."""
    (tmp_path / "t.csv").write_text(text(",", ",", quote=True))
    (tmp_path / "point.csv").write_text(text())
    config = tmp_path / "c.yaml"
    config.write_text('data: {path: t.csv, target: kind, decimal: ","}\ntraining: {epochs: 2, plots: false}\n')
    runner = CliRunner()
    trained = runner.invoke(cli, ["train", str(config), "--output-dir", str(tmp_path / "runs"), "--json"])
    assert trained.exit_code == 0, trained.output
    run = json.loads(trained.stdout)["run_dir"]
    refused = runner.invoke(cli, ["evaluate", run, "--data", str(tmp_path / "point.csv")])
    assert refused.exit_code == 2
    assert "the run reads numbers written with a decimal comma" in refused.stderr
    assert f'give --data a config.yaml with data: {{path: {tmp_path / "point.csv"}, decimal: "."}}' in refused.stderr
    (tmp_path / "p.yaml").write_text('data: {path: point.csv, target: kind, decimal: "."}\n')
    scored = runner.invoke(cli, ["evaluate", run, "--data", str(tmp_path / "p.yaml"), "--json"])
    assert scored.exit_code == 0, scored.output
