"""The FastAPI app of one run: ``/healthz``, ``/v1/metadata``, ``/v1/predict`` and TF Serving's
``/v1/models/NAME:predict``.

Handlers read and check the JSON body themselves (``rows.features``: no
pydantic, no pandas) and write the JSON answer themselves; the OpenAPI
document still describes every body (``schema``). Bad input is never a 500:
malformed JSON is 400, a row that cannot be predicted 422 (naming its index
and column), too many rows 413.
"""

from __future__ import annotations

import contextlib
import json

import numpy as np
from fastapi import FastAPI, Path, Request
from fastapi.responses import Response

from dlcli.predict import Predictor
from dlcli.runs.saved import SavedRun
from dlcli.serving import schema as api
from dlcli.serving.batcher import Batcher
from dlcli.serving.rows import BadRows, Problem, columnar_rows, features, instance_rows
from dlcli.version import __version__

MAX_DETAIL = 100  # bad rows listed in a 422
BYTES_PER_VALUE = 128  # a body may hold max_rows rows of this many bytes per value (plus some) before a 413


class Refused(Exception):
    """A request answered with an error status; ``problems`` become the ``detail`` list."""

    def __init__(self, status: int, message: str, problems=(), key: str = "rows"):
        super().__init__(message)
        self.status = status
        self.problems = list(problems)
        self.key = key


def reply(payload, status: int = 200) -> Response:
    return Response(json.dumps(payload, allow_nan=False), status_code=status, media_type="application/json")


def refusal(exc: Refused) -> Response:
    detail = []
    for p in exc.problems[:MAX_DETAIL]:
        loc = ["body", exc.key]
        if exc.key == "inputs":  # columns first in TF Serving's columnar format
            loc += [x for x in (p.column, p.row) if x is not None]
        else:
            loc += [x for x in (p.row, p.column) if x is not None]
        detail.append({"loc": loc, "msg": p.message, "type": "value_error"})
    return reply({"error": str(exc), "detail": detail}, exc.status)


def finite_list(values: np.ndarray) -> list:
    """An array as a JSON list, NaN and infinities as null."""
    return np.where(np.isfinite(values), values, None).tolist() if values.size else values.tolist()


class Served:
    """One run behind the routes: its input schema, the warm predictor, the batcher."""

    def __init__(self, run: SavedRun, predictor: Predictor, *, max_rows: int, window: float):
        self.run = run
        self.schema = run.inputs
        self.predictor = predictor
        self.max_rows = max_rows
        self.max_bytes = 65536 + max_rows * (256 + BYTES_PER_VALUE * self.values_per_row())
        self.batcher = Batcher(predictor.outputs, window=window)
        self.metadata = api.metadata(run, max_rows)

    def values_per_row(self) -> int:
        return len(self.schema.features) if self.schema.features else int(np.prod(self.schema.input_shape))

    async def body(self, request: Request) -> dict:
        """The JSON object of the body: 413 past the byte limit, 400 when not JSON, 422 when not an object."""
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > self.max_bytes:
            raise Refused(
                413, f"the body is {int(length):,} bytes; at most {self.max_bytes:,} (--max-rows {self.max_rows:,})"
            )
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self.max_bytes:
                raise Refused(413, f"the body is over {self.max_bytes:,} bytes (--max-rows {self.max_rows:,})")
            chunks.append(chunk)
        try:
            body = json.loads(b"".join(chunks))
        except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise Refused(400, f"the body is not JSON: {exc}") from None
        if not isinstance(body, dict):
            raise Refused(
                422, 'the body is a JSON object, e.g. {"rows": [...]}', [Problem(None, None, "not an object")]
            )
        return body

    def checked(self, rows, key: str):
        """Features of ``rows``, or the 413 / 422 that says why not."""
        if not isinstance(rows, list):
            raise Refused(422, f"'{key}' is a list of rows", [Problem(None, None, "not a list")], key)
        if len(rows) > self.max_rows:
            raise Refused(413, f"{len(rows):,} rows; at most {self.max_rows:,} per request (--max-rows)", key=key)
        try:
            return features(rows, self.schema)
        except BadRows as exc:
            raise Refused(422, str(exc), exc.problems, key) from None

    async def predict(self, request: Request) -> Response:
        with self.batcher.reading_request():
            body = await self.body(request)
            proba = body.get("proba", False)
            if not isinstance(proba, bool):
                raise Refused(422, "'proba' is true or false", [Problem(None, None, "not a boolean")], "proba")
            if proba and self.run.labels is None:
                raise Refused(422, "'proba' needs a classifier; this model predicts values (regression)", key="proba")
            rows = body.get("rows")
            x = self.checked(rows, "rows")
        if not rows:
            return reply({"predictions": [], **({"probabilities": []} if proba else {})})
        columns = self.predictor.columns(await self.batcher(x), proba)
        predicted = columns.pop("prediction")
        payload = {"predictions": finite_list(predicted) if self.run.labels is None else predicted.tolist()}
        if proba:
            labels = [str(c) for c in self.run.labels]
            probs = finite_list(np.column_stack(list(columns.values())))
            payload["probabilities"] = [dict(zip(labels, row, strict=True)) for row in probs]
        return reply(payload)

    async def tf_serving(self, request: Request, name: str) -> Response:
        if name != self.run.config.name:
            raise Refused(404, f"Servable not found for request: {name!r}; this server serves {self.run.config.name!r}")
        with self.batcher.reading_request():
            body = await self.body(request)
            if "instances" in body:
                key, answer = "instances", "predictions"
                rows = body["instances"]
                if isinstance(rows, list):
                    rows = instance_rows(rows, self.schema)
            elif "inputs" in body:
                key, answer = "inputs", "outputs"
                try:
                    rows = columnar_rows(body["inputs"], self.schema)
                except BadRows as exc:
                    raise Refused(422, str(exc), exc.problems, key) from None
            else:
                raise Refused(422, "the body has 'instances' (rows) or 'inputs' (columns)", key="instances")
            x = self.checked(rows, key)
        out = await self.batcher(x) if rows else np.zeros((0, self.run.config.output.units))
        return reply({answer: finite_list(out.astype(np.float64))})


def build(run: SavedRun, predictor: Predictor, *, max_rows: int, window: float) -> FastAPI:
    """The app serving ``run`` with ``predictor`` (already warm)."""
    served = Served(run, predictor, max_rows=max_rows, window=window)

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        yield
        await served.batcher.close()

    app = FastAPI(
        title=f"dlcli: {run.config.name}",
        version=__version__,
        description=f"Predictions of the {run.config.task} model in {run.path.name}.",
        lifespan=lifespan,
    )
    app.state.served = served

    @app.exception_handler(Refused)
    async def refused(_request, exc: Refused):
        return refusal(exc)

    @app.get("/healthz", summary="Liveness: 200 once the model is loaded and warm; model calls and rows so far")
    async def healthz():
        return reply({"status": "ok", "model_calls": served.batcher.batches, "rows": served.batcher.rows})

    @app.get("/v1/metadata", summary="Task, feature columns with their types, classes, test metrics, config digest")
    async def metadata():
        return reply(served.metadata)

    @app.post(
        "/v1/predict",
        summary="Predict rows: class names (and probabilities) or values",
        responses=api.responses(api.predict_response(run)),
        openapi_extra=api.request_body(api.predict_request(run, max_rows)),
    )
    async def predict(request: Request):
        return await served.predict(request)

    @app.post(
        "/v1/models/{name}:predict",
        summary=f"TF Serving's predict: the model's raw outputs (the model is named {run.config.name!r})",
        responses=api.responses(api.tf_serving_response(run), (400, 404, 413, 422)),
        openapi_extra=api.request_body(api.tf_serving_request(run, max_rows)),
    )
    async def tf_serving(request: Request, name: str = Path(json_schema_extra={"enum": [run.config.name]})):
        return await served.tf_serving(request, name)

    return app
