"""What the server shows of a run: ``/v1/metadata`` and the JSON Schemas of its requests and responses.

The OpenAPI document lists every feature column with its type: a number
column is a JSON number (``null`` too when the model fills holes), a
categorical column is text or a number (one of the training categories when
the run refuses unseen ones). Plain dicts, no FastAPI.
"""

from __future__ import annotations

import hashlib
import math

from dlcli.data.cells import MISSING_CATEGORY
from dlcli.data.newrows import FLOAT32_MAX
from dlcli.runs import store
from dlcli.runs.saved import SavedRun
from dlcli.version import __version__

ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {"type": "string", "description": "what is wrong, in one line (TF Serving's error shape)"},
        "detail": {
            "type": "array",
            "description": "every bad row: loc is the JSON path (body, rows, row index, column)",
            "items": {
                "type": "object",
                "properties": {
                    "loc": {"type": "array", "items": {"type": ["string", "integer"]}},
                    "msg": {"type": "string"},
                    "type": {"type": "string"},
                },
            },
        },
    },
}
ERRORS = {
    400: "the body is not JSON",
    404: "no model of that name here",
    413: "more rows than --max-rows, or a body too large for them",
    422: "a row cannot be predicted (a missing column, a cell of the wrong type, ...): error names the row and column",
}


def digest(run: SavedRun) -> str:
    """sha256 of the run's config.yaml, as saved."""
    return hashlib.sha256((run.path / store.CONFIG).read_bytes()).hexdigest()


def finite(value):
    """``value`` with every NaN or infinity (which JSON cannot carry) as None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def metadata(run: SavedRun, max_rows: int) -> dict:
    """``GET /v1/metadata``: what the model takes and gives, how it scored, which config made it."""
    schema = run.inputs
    features = None
    if schema.features:
        fills = dict(zip(schema.numeric_columns, schema.fill or (), strict=False))
        features = []
        for column in schema.features:
            about = {"name": column, "input": (schema.columns or {}).get(column, column)}
            if column in schema.vocab:
                about.update(type="category", categories=schema.vocab[column], unseen=schema.unseen)
            else:
                about["type"] = "number"
            if schema.fill is None:
                about["missing"] = "refused (422)"
            else:
                about["missing"] = (
                    f"category {MISSING_CATEGORY}" if column in schema.vocab else {"filled_with": fills.get(column)}
                )
            features.append(about)
    return finite(
        {
            "name": run.config.name,
            "task": run.config.task,
            "features": features,
            "input_shape": list(schema.input_shape),
            "classes": run.labels,
            "output": {"units": run.config.output.units, "activation": run.config.output.activation},
            "test_metrics": store.read_json_if_present(run.path / store.METRICS, {}),
            "config_sha256": digest(run),
            "max_rows": max_rows,
            "versions": {"dlcli": __version__, **{k: run.environment.get(k) for k in ("tensorflow", "keras")}},
        }
    )


def example_row(run: SavedRun):
    """A row the model takes: each number column's fill (or 0), each categorical column's first category."""
    schema = run.inputs
    if not schema.features:
        return [0.0] * math.prod(schema.input_shape)
    fills = dict(zip(schema.numeric_columns, schema.fill or (), strict=False))
    return {c: schema.vocab[c][0] if c in schema.vocab else float(fills.get(c, 0.0)) for c in schema.features}


def row_schema(run: SavedRun) -> dict:
    """One row: an object with every feature column, typed; for an array model, a list of numbers."""
    schema = run.inputs
    number = {"type": "number", "minimum": -FLOAT32_MAX, "maximum": FLOAT32_MAX}
    if not schema.features:
        size = math.prod(schema.input_shape)
        shape = list(schema.input_shape)
        return {"type": "array", "items": number, "minItems": size, "maxItems": size,
                "description": f"{size} numbers (the shape {shape} flattened, or nested in it)"}  # fmt: skip
    holes = schema.fill is not None
    properties = {}
    for column in schema.features:
        if column in schema.vocab:
            vocab = schema.vocab[column]
            if schema.unseen == "error":
                cell = {"enum": [*vocab, None] if holes else list(vocab)}
            else:
                cell = {"type": ["string", "number", "null"] if holes else ["string", "number"]}
            cell["description"] = f"category, one of {len(vocab)} seen in training: {', '.join(vocab[:10])}" + (
                ", ..." if len(vocab) > 10 else ""
            )
        else:
            cell = {**number, "type": ["number", "null"] if holes else "number"}
            cell["description"] = "a number (text such as '12.5' is read as in a CSV file)" + (
                "; null: a missing value, filled as in training" if holes else ""
            )
        properties[column] = cell
    return {"type": "object", "properties": properties, "required": list(schema.features)}


def predict_request(run: SavedRun, max_rows: int) -> dict:
    properties = {"rows": {"type": "array", "items": row_schema(run), "maxItems": max_rows}}
    if run.labels is not None:
        properties["proba"] = {"type": "boolean", "default": False, "description": "add each class's probability"}
    return {"type": "object", "required": ["rows"], "properties": properties,
            "example": {"rows": [example_row(run)], **({"proba": True} if run.labels else {})}}  # fmt: skip


def predict_response(run: SavedRun) -> dict:
    if run.labels is None:
        prediction = {"type": ["number", "null"], "description": "the predicted value"}
        return {"type": "object", "required": ["predictions"], "properties": {"predictions": {"type": "array", "items": prediction}}}  # fmt: skip
    labels = [str(c) for c in run.labels]
    probabilities = {
        "type": "array",
        "description": "per row: class -> probability (with proba: true)",
        "items": {"type": "object", "properties": {c: {"type": "number"} for c in labels}},
    }
    return {
        "type": "object",
        "required": ["predictions"],
        "properties": {
            "predictions": {"type": "array", "items": {"description": "the predicted class", "enum": run.labels}},
            "probabilities": probabilities,
        },
    }


def tf_serving_request(run: SavedRun, max_rows: int) -> dict:
    schema = run.inputs
    row, example = row_schema(run), example_row(run)
    if schema.features:
        names = schema.columns or {c: c for c in schema.features}
        properties = {names[c]: cell for c, cell in row["properties"].items()}
        example = {names[c]: value for c, value in example.items()}
        instance = {"type": "object", "properties": properties, "required": list(properties),
                    "description": "keyed by the model's input names; a value may also be a one-element list"}  # fmt: skip
        inputs = {"type": "object", "description": "input name -> a list with one value per row",
                  "properties": {n: {"type": "array", "items": cell} for n, cell in properties.items()},
                  "required": list(properties)}  # fmt: skip
    else:
        instance = row
        inputs = {"type": "array", "items": row}
    return {
        "type": "object",
        "description": "TF Serving's predict request: rows as 'instances', or columns as 'inputs'",
        "anyOf": [{"required": ["instances"]}, {"required": ["inputs"]}],
        "properties": {"instances": {"type": "array", "items": instance, "maxItems": max_rows}, "inputs": inputs},
        "example": {"instances": [example]},
    }


def tf_serving_response(run: SavedRun) -> dict:
    units = run.config.output.units
    outputs = {"type": "array", "items": {"type": "array", "items": {"type": ["number", "null"]}, "minItems": units,
               "maxItems": units}, "description": f"the model's {units} raw output value(s) per row"}  # fmt: skip
    return {"type": "object", "properties": {"predictions": outputs, "outputs": outputs},
            "description": "'predictions' for 'instances', 'outputs' for 'inputs', as TF Serving answers"}  # fmt: skip


def responses(ok: dict, codes=(400, 413, 422)) -> dict:
    """FastAPI ``responses=``: the 200 schema and the error codes this route gives."""
    out = {200: {"description": "predictions", "content": {"application/json": {"schema": ok}}}}
    for code in codes:
        out[code] = {"description": ERRORS[code], "content": {"application/json": {"schema": ERROR}}}
    return out


def request_body(schema: dict) -> dict:
    """FastAPI ``openapi_extra=`` for a route that reads its JSON body itself."""
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}
