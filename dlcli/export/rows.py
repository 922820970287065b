"""The rows an export is checked on: raw rows, as ``dlcli predict`` reads them and the artefact takes them.

In order of preference: every row of ``--data FILE``; the run's own test
split, rebuilt from its data files as ``dlcli evaluate`` does, its holes
kept (a streamed split's are already filled); or, when those files are gone, rows made from the run's schema
(the training fills and vocabularies). A table run's rows get edge rows too,
so that the raw-input steps are exercised whatever the data: a hole in each
column and all at once, a category not seen in training, a category written
with spaces around it, a number category written as ``3.0``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dlcli.data import cells, sources
from dlcli.data.features import InputSchema, input_name, numeric
from dlcli.errors import DataError
from dlcli.runs.saved import SavedRun

MAX_ROWS = 1000  # of the test split or --data file: enough to compare runtimes, quick at batch 1
SYNTHESISED = 64
UNSEEN = "(a category not seen in training)"


@dataclass
class CheckRows:
    """Raw rows: a table's columns (numbers float64 with NaN holes, categories as text) or an array model's array."""

    source: str
    columns: dict = field(default_factory=dict)
    array: np.ndarray | None = None
    counts: dict = field(default_factory=dict)  # where the rows came from -> how many

    def __len__(self) -> int:
        return len(self.array) if self.array is not None else len(next(iter(self.columns.values())))

    def holes(self) -> int:
        """Cells that are holes: NaN numbers, empty or missing-text categories."""
        count = 0
        for values in self.columns.values():
            if values.dtype == object:
                count += sum(text(v).strip() in cells.MISSING_TEXT for v in values)
            else:
                count += int(np.isnan(values).sum())
        return count

    def frame(self):
        """The rows as ``dlcli predict`` takes them: a DataFrame (tables) or the array."""
        import pandas as pd

        return self.array if self.array is not None else pd.DataFrame(self.columns)

    def inputs(self, schema: InputSchema) -> dict[str, np.ndarray]:
        """The rows keyed by the model's input names: (n, 1) float32 or text per column; ``features`` for arrays."""
        if self.array is not None:
            return {"features": np.ascontiguousarray(self.array, dtype=np.float32)}
        out = {}
        for column in schema.features:
            values = self.columns[column]
            if column in schema.vocab:
                out[schema.columns[column]] = np.array([text(v) for v in values], dtype=str).reshape(-1, 1)
            else:
                out[schema.columns[column]] = np.asarray(values, dtype=np.float32).reshape(-1, 1)
        return out


def text(cell) -> str:
    """A category cell as the string the model takes: a hole (None, NaN) as the empty string."""
    if cell is None or (isinstance(cell, (float, np.floating)) and np.isnan(cell)):
        return ""
    return cell.decode("utf-8") if isinstance(cell, bytes) else str(cell)


def check_rows(run: SavedRun, data_path: str | None = None) -> CheckRows:
    """The rows to check an export of ``run`` on (see the module docstring)."""
    schema = run.inputs
    if data_path is not None:
        rows = _from_file(run, data_path)
    elif all(Path(p).is_file() for p in run.config.data.files().values()):
        rows = _from_test_split(run)
    elif schema.columns:
        rows = _synthesised(schema)
    else:
        gone = next(p for p in run.config.data.files().values() if not Path(p).is_file())
        raise DataError(f"{run.path}: the run's data {gone} is gone; give rows to check the export on with --data FILE")
    if schema.columns:
        _add_edge_rows(rows, schema)
    return rows


def _from_file(run: SavedRun, path: str) -> CheckRows:
    schema = run.inputs
    if not Path(path).is_file():
        raise DataError(f"{path}: file not found")
    module = sources.input_reader(path)
    if not sources.is_table(module.NAME):
        if schema.columns:
            raise DataError(f"{path}: this run takes table columns; give a table file ({sources.table_files()})")
        array = module.read_inputs(path, schema)[:MAX_ROWS]
        return CheckRows(source=f"{path}", array=array, counts={path: len(array)})
    if not schema.columns:
        raise DataError(f"{path}: this model was not trained on a table; give an .npz with an array 'x'")
    from dlcli.data.tablefile import dialect, read_frame

    options = dialect(run.config.data)  # the training's delimiter and decimal mark
    frame, _ = read_frame(path, **options)
    absent = [c for c in schema.features if c not in frame.columns]
    if absent:
        raise DataError(f"{path}: missing column(s) {', '.join(absent)} that the model was trained on")
    frame = frame.iloc[:MAX_ROWS]
    columns = {}
    for column in schema.features:
        if column in schema.vocab:
            columns[column] = np.array([text(v) for v in frame[column]], dtype=object)
        else:
            columns[column] = cells.numbers(frame[column].astype(object), options["decimal"])[0]
    return CheckRows(source=path, columns=columns, counts={path: len(frame)})


def _from_test_split(run: SavedRun) -> CheckRows:
    from dlcli.evaluate import own_test_split

    x, _ = own_test_split(run, run.config.config, holes=True)()
    x = _first(x, MAX_ROWS)
    files = ", ".join(run.config.data.files().values()) or run.config.data.source
    source = f"the run's test split ({files})"
    if not run.inputs.columns:
        return CheckRows(source=source, array=np.asarray(x, dtype=np.float32), counts={"test split": len(x)})
    schema = run.inputs
    values = numeric(x).reshape(len(numeric(x)), -1)
    columns = {}
    for j, column in enumerate(schema.numeric_columns):
        columns[column] = values[:, j].astype(np.float64)
    for column in schema.vocab:
        cats = np.array([text(v) for v in np.ravel(x[column] if column in x else x[input_name(column)])], dtype=object)
        cats[cats == cells.MISSING_CATEGORY] = ""  # a hole, as the file has it
        columns[column] = cats
    return CheckRows(source=f"{source}, holes kept", columns=columns, counts={"test split": len(values)})


def _first(x, n: int):
    """The first ``n`` rows of in-memory features, or of a streamed split's (features, labels) batches."""
    if isinstance(x, np.ndarray):
        return x[:n]
    if isinstance(x, dict):
        return {k: v[:n] for k, v in x.items()}
    parts, got = [], 0
    for features, _ in x:
        if isinstance(features, dict):
            part = {k: np.asarray(v) for k, v in features.items()}
            got += len(next(iter(part.values())))
        else:
            part = np.asarray(features)
            got += len(part)
        parts.append(part)
        if got >= n:
            break
    if isinstance(parts[0], dict):
        return {k: np.concatenate([p[k] for p in parts])[:n] for k in parts[0]}
    return np.concatenate(parts)[:n]


def _synthesised(schema: InputSchema) -> CheckRows:
    """Rows made from the schema: numbers around the training fill, every category of each column in turn."""
    rng = np.random.default_rng(0)
    centre = np.asarray(schema.fill if schema.fill is not None else np.zeros(len(schema.numeric_columns)))
    spread = np.maximum(np.abs(centre), 1.0)
    columns = {}
    for j, column in enumerate(schema.numeric_columns):
        columns[column] = centre[j] + spread[j] * rng.normal(size=SYNTHESISED)
    for column, vocabulary in schema.vocab.items():
        columns[column] = np.array([vocabulary[i % len(vocabulary)] for i in range(SYNTHESISED)], dtype=object)
    source = "rows made from the run's schema (training fills and vocabularies): the run's data files are gone"
    return CheckRows(source=source, columns=columns, counts={"synthesised": SYNTHESISED})


def _add_edge_rows(rows: CheckRows, schema: InputSchema) -> None:
    """Append rows that exercise holes, unseen and oddly written categories (those ``dlcli predict`` accepts)."""
    base = {c: v[0] for c, v in rows.columns.items()}
    edges = []
    holes = schema.fill is not None  # a run trained without a fill refuses holes
    if holes:
        edges.append({c: (np.nan if c not in schema.vocab else "") for c in schema.features})
        edges += [{**base, c: np.nan} for c in schema.numeric_columns]
    for column, vocabulary in schema.vocab.items():
        if holes:
            edges += [{**base, column: "NA"}, {**base, column: " "}]
        edges.append({**base, column: f"  {vocabulary[-1]} "})
        if schema.unseen != "error":
            edges.append({**base, column: UNSEEN})
        values, names = cells.number_categories(vocabulary)
        if values:
            edges.append({**base, column: f"{values[0]:.2f}"})
    for column, values in rows.columns.items():
        added = np.array([edge[column] for edge in edges], dtype=values.dtype)
        rows.columns[column] = np.concatenate([values, added])
    if edges:
        rows.counts["edge rows"] = len(edges)
