"""dlcli serve: the HTTP API (FastAPI's test client and a real uvicorn), its error codes, batching, a schemathesis
fuzz against the app's own OpenAPI schema, and SIGTERM answering the request in flight."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

import dlcli  # noqa: E402
from dlcli.data.features import InputSchema  # noqa: E402
from dlcli.serving import rows as json_rows  # noqa: E402
from tests.conftest import CONFIGS, ROOT, invoke, train_json  # noqa: E402

pytestmark = pytest.mark.slow  # servers: uvicorn in threads and in processes

ROW = {"tenure_months": 12, "monthly_fee": 30.5, "city": "lille", "plan": "pro", "support_calls": 2}


def churn_with_holes(path):
    """configs/data/churn.csv with empty cells in a number column and a categorical one."""
    lines = (CONFIGS / "data" / "churn.csv").read_text().splitlines()
    out = [lines[0]]
    for i, line in enumerate(lines[1:]):
        cells = line.split(",")
        if i % 7 == 0:
            cells[1] = ""  # monthly_fee
        if i % 11 == 0:
            cells[2] = ""  # city
        out.append(",".join(cells))
    path.write_text("\n".join(out) + "\n")
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Three small runs: churn with holes (numbers + categories, filled), iris (numbers, no fill), arrays (regression)."""
    tmp = tmp_path_factory.mktemp("serve")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 2, 5)).astype(np.float32)
    np.savez(tmp / "arrays.npz", x=x, y=(x[:, 0, 0] * 2 + x[:, 1, 4] + 0.1).astype(np.float32))
    churn_with_holes(tmp / "churn.csv")
    (tmp / "churn.yaml").write_text(
        "name: churn\nseed: 0\ndata: {path: churn.csv, target: churn, missing: mean, embedding: {city: 3}}\n"
        "model: {layers: [{units: 16, activation: relu}]}\ntraining: {epochs: 3, plots: false}\n"
    )
    (tmp / "arrays.yaml").write_text("name: arrays\ndata: {path: arrays.npz}\ntraining: {epochs: 2, plots: false}\n")
    out = tmp / "runs"
    return {
        "churn": train_json(out, tmp / "churn.yaml")[0],
        "iris": train_json(out, CONFIGS / "iris_csv.yaml", "training.epochs=3", "training.plots=false")[0],
        "arrays": train_json(out, tmp / "arrays.yaml")[0],
    }


@pytest.fixture(scope="module")
def apps(runs):
    from dlcli.serve import create_app

    return {name: create_app(run, max_rows=50) for name, run in runs.items()}


@pytest.fixture(scope="module")
def client(apps):
    from fastapi.testclient import TestClient

    opened = {name: TestClient(app) for name, app in apps.items()}
    for c in opened.values():
        c.__enter__()
    yield opened
    for c in opened.values():
        c.__exit__(None, None, None)


@pytest.fixture(scope="module")
def live(runs):
    """A real uvicorn serving the churn run on a loopback port (its own app: an app's batcher lives in one loop)."""
    import uvicorn

    from dlcli.serve import create_app, listen

    app = create_app(runs["churn"])
    sock = listen("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    yield f"http://127.0.0.1:{sock.getsockname()[1]}", app
    server.should_exit = True
    thread.join(10)
    sock.close()


# ---- the API ------------------------------------------------------------------------------------------------


def test_health_and_metadata(client, runs):
    c = client["churn"]
    assert c.get("/healthz").json()["status"] == "ok"
    meta = c.get("/v1/metadata").json()
    assert meta["task"] == "binary" and meta["classes"] == ["no", "yes"]
    types = {f["name"]: f["type"] for f in meta["features"]}
    assert types == {"tenure_months": "number", "monthly_fee": "number", "city": "category", "plan": "category",
                     "support_calls": "number"}  # fmt: skip
    assert next(f for f in meta["features"] if f["name"] == "plan")["categories"] == ["basic", "plus", "pro"]
    assert meta["test_metrics"] == json.loads((runs["churn"] / "metrics.json").read_text())
    assert meta["config_sha256"] == hashlib.sha256((runs["churn"] / "config.yaml").read_bytes()).hexdigest()
    arrays = client["arrays"].get("/v1/metadata").json()
    assert arrays["task"] == "regression" and arrays["features"] is None and arrays["input_shape"] == [2, 5]


def test_the_openapi_schema_lists_the_feature_columns_and_types(client):
    schema = client["churn"].get("/openapi.json").json()
    body = schema["paths"]["/v1/predict"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    row = body["properties"]["rows"]["items"]
    assert row["required"] == ["tenure_months", "monthly_fee", "city", "plan", "support_calls"]
    assert row["properties"]["monthly_fee"]["type"] == ["number", "null"]  # null: the run fills holes
    assert row["properties"]["city"]["type"] == ["string", "number", "null"]
    assert body["properties"]["rows"]["maxItems"] == 50
    iris = client["iris"].get("/openapi.json").json()
    body = iris["paths"]["/v1/predict"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["properties"]["rows"]["items"]["properties"]["petal_width"]["type"] == "number"  # no fill: no null
    assert "/v1/models/{name}:predict" in schema["paths"]


def csv_rows(path, n):
    with open(path, newline="") as fh:
        return [row for _, row in zip(range(n), csv.DictReader(fh), strict=False)]


def assert_same_as_predictor(got: dict, frame, labels) -> None:
    assert got["predictions"] == frame["prediction"].tolist()
    probs = np.array([[p[str(c)] for c in labels] for p in got["probabilities"]])
    np.testing.assert_allclose(probs, frame[[f"p_{c}" for c in labels]].to_numpy(), rtol=1e-6, atol=1e-6)


def test_predictions_equal_the_predictor_on_the_same_rows(live, runs, tmp_path):
    import httpx

    url, _ = live
    run = dlcli.load(runs["churn"])
    typed = [
        ROW,
        {**ROW, "monthly_fee": None, "city": None},  # holes: filled as in training
        {**ROW, "tenure_months": "36", "monthly_fee": " 12.5 ", "plan": " plus "},  # text read as a CSV cell
        {**ROW, "city": "atlantis", "support_calls": True},  # an unseen city: the OOV bucket
        {**ROW, "city": "NA", "monthly_fee": "", "extra": "ignored"},  # missing words are holes
        {**ROW, "plan": 3.0},  # a number as a category is '3'
    ]
    from_csv = csv_rows(churn_with_holes(tmp_path / "c.csv"), 40)  # every cell a string, "" for a hole
    for rows in (typed, from_csv):
        got = httpx.post(f"{url}/v1/predict", json={"rows": rows, "proba": True}, timeout=30)
        assert got.status_code == 200, got.text
        assert_same_as_predictor(got.json(), run.predict(rows, proba=True), run.labels)


def test_array_run_takes_rows_as_lists_and_gives_values(client, runs):
    x = np.random.default_rng(1).normal(size=(7, 2, 5)).round(4)
    c = client["arrays"]
    want = dlcli.load(runs["arrays"]).predict(x.astype(np.float32))["prediction"].to_numpy()
    for rows in (x.tolist(), x.reshape(7, 10).tolist()):  # nested in the training shape, or flat
        got = c.post("/v1/predict", json={"rows": rows})
        assert got.status_code == 200, got.text
        np.testing.assert_allclose(got.json()["predictions"], want, rtol=1e-6, atol=1e-6)
    got = c.post("/v1/models/arrays:predict", json={"instances": x.tolist()})
    np.testing.assert_allclose(np.ravel(got.json()["predictions"]), want, rtol=1e-6, atol=1e-6)
    bad = c.post("/v1/predict", json={"rows": [[1.0] * 9]})
    assert bad.status_code == 422 and "10 numbers" in bad.json()["error"]
    bad = c.post("/v1/predict", json={"rows": [[1.0] * 9 + ["a"]]})
    assert bad.status_code == 422 and "position 9" in bad.json()["error"]
    assert c.post("/v1/predict", json={"rows": x.tolist(), "proba": True}).status_code == 422


def test_tf_serving_shapes_give_the_raw_outputs(client, apps):
    c = client["churn"]
    predictor = apps["churn"].state.served.predictor
    rows = [ROW, {**ROW, "plan": "basic", "tenure_months": 60}]
    want = predictor.outputs(json_rows.features(rows, predictor.run.inputs))
    instances = [{k: [v] for k, v in r.items()} for r in rows]  # a (1,) value per input, as TF Serving sends
    got = c.post("/v1/models/churn:predict", json={"instances": instances})
    assert got.status_code == 200, got.text
    np.testing.assert_allclose(got.json()["predictions"], want, rtol=1e-6)
    columns = {k: [r[k] for r in rows] for k in ROW}
    got = c.post("/v1/models/churn:predict", json={"inputs": columns})
    np.testing.assert_allclose(got.json()["outputs"], want, rtol=1e-6)  # TF Serving answers columns with outputs
    missing = c.post("/v1/models/other:predict", json={"instances": instances})
    assert missing.status_code == 404 and "'churn'" in missing.json()["error"]


# ---- bad input: never a 500, and the server keeps answering --------------------------------------------------

BAD = [
    (b"{not json", 400, "not JSON", None),
    (b"\xff\xfe", 400, "not JSON", None),
    (b"[1, 2]", 422, "JSON object", None),
    (b'{"row": []}', 422, "'rows' is a list", None),
    (json.dumps({"rows": [ROW, {k: v for k, v in ROW.items() if k != "city"}]}), 422, "row 1, column 'city'",
     ["body", "rows", 1, "city"]),
    (json.dumps({"rows": [{**ROW, "monthly_fee": "abc"}]}), 422, "row 0, column 'monthly_fee': 'abc' is not a number",
     ["body", "rows", 0, "monthly_fee"]),
    (json.dumps({"rows": [{**ROW, "tenure_months": [1, 2]}]}), 422, "[1, 2] is not a number", None),
    (json.dumps({"rows": [{**ROW, "plan": {"a": 1}}]}), 422, "is not a category", None),
    (json.dumps({"rows": [{**ROW, "monthly_fee": 1e39}]}), 422, "beyond float32", None),
    ('{"rows": [{"tenure_months": Infinity}]}', 422, "not a finite number", None),
    (json.dumps({"rows": ["a row"]}), 422, "a row is an object", ["body", "rows", 0]),
    (json.dumps({"rows": [ROW], "proba": "yes"}), 422, "'proba' is true or false", None),
    (json.dumps({"rows": [ROW] * 51}), 413, "at most 50", None),
    ("x" * 10_000_000, 413, "bytes", None),
]  # fmt: skip


@pytest.mark.parametrize(("body", "status", "needle", "loc"), BAD, ids=[f"{s}-{n[:24]}" for _, s, n, _ in BAD])
def test_bad_input_gets_a_4xx_that_says_where(client, body, status, needle, loc):
    c = client["churn"]
    got = c.post("/v1/predict", content=body, headers={"Content-Type": "application/json"})
    assert got.status_code == status, got.text
    assert needle in got.json()["error"]
    if loc is not None:
        assert got.json()["detail"][0]["loc"] == loc
    assert c.post("/v1/predict", json={"rows": [ROW]}).status_code == 200  # still answering


def test_every_bad_row_is_listed(client):
    rows = [ROW, {**ROW, "monthly_fee": "x"}, ROW, {**ROW, "city": []}]
    got = client["churn"].post("/v1/predict", json={"rows": rows}).json()
    assert [d["loc"][2:] for d in got["detail"]] == [[1, "monthly_fee"], [3, "city"]]
    assert "(1 more bad row(s))" in got["error"]


def test_a_model_without_fill_refuses_holes_as_the_predictor_does(client, runs):
    row = {"sepal_length": 5.1, "sepal_width": None, "petal_length": 1.4, "petal_width": 0.2}
    got = client["iris"].post("/v1/predict", json={"rows": [row]})
    assert got.status_code == 422 and "has no fill" in got.json()["error"]
    with pytest.raises(dlcli.DataError, match="sepal_width"):
        dlcli.load(runs["iris"]).predict([row])


def test_unseen_error_runs_refuse_new_categories():
    schema = InputSchema(input_shape=(1,), features=["n", "c"], vocab={"c": ["a", "3"]}, fill=[0.0], unseen="error")
    assert json_rows.features([{"n": 1, "c": 3.0}], schema)["c"].tolist() == ["3"]
    with pytest.raises(json_rows.BadRows, match=r"row 0, column 'c': category 'b' was not seen"):
        json_rows.features([{"n": 1, "c": " b "}], schema)


def test_the_same_cells_are_refused_by_the_predictor(runs):
    """newrows refuses a number past float32 too, so the server and dlcli predict agree."""
    with pytest.raises(dlcli.DataError, match="beyond float32"):
        dlcli.load(runs["churn"]).predict([{**ROW, "monthly_fee": 1e39}])


# ---- batching and the compiled function ------------------------------------------------------------------------


def test_requests_that_arrive_together_share_one_model_call(apps):
    from dlcli.serving.batcher import Batcher

    served = apps["churn"].state.served
    calls = []

    def predict(x):
        calls.append(len(x["numeric"]))
        return served.predictor.outputs(x)

    batcher = Batcher(predict)
    parts = [json_rows.features([ROW] * n, served.schema) for n in (1, 2, 3, 4)]

    async def together():
        try:
            return await asyncio.gather(*(batcher(x) for x in parts))
        finally:
            await batcher.close()

    outs = asyncio.run(together())
    assert calls == [10] and [len(o) for o in outs] == [1, 2, 3, 4]
    np.testing.assert_allclose(outs[3], served.predictor.outputs(parts[3]), rtol=1e-6)


def test_concurrent_clients_on_a_real_server_and_no_retracing(live):
    import httpx

    url, app = live
    served = app.state.served
    traced = served.predictor._call.experimental_get_tracing_count()
    sizes = [1, 5, 17, 64, 1, 2, 3, 9] * 4
    results = [None] * len(sizes)

    def send(i):
        with httpx.Client(timeout=30) as c:
            results[i] = c.post(f"{url}/v1/predict", json={"rows": [ROW] * sizes[i]})

    before = served.batcher.batches
    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(sizes))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r.status_code == 200 and len(r.json()["predictions"]) == n for r, n in zip(results, sizes, strict=True))
    assert served.batcher.batches - before <= len(sizes)
    assert served.predictor._call.experimental_get_tracing_count() == traced  # warm-up covered every batch size
    assert httpx.get(f"{url}/healthz").json()["rows"] >= sum(sizes)


# ---- fuzzing the app against its own OpenAPI schema ------------------------------------------------------------


def test_schemathesis_finds_no_server_error(apps, capsys):
    """Every operation, data that fits the schema and data that does not: never a 5xx."""
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings
    from schemathesis import GenerationMode

    statuses: dict[int, int] = {}
    started = time.perf_counter()
    for name, app in apps.items():
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        for result in schema.get_all_operations():
            operation = result.ok()
            modes = [GenerationMode.POSITIVE] + ([GenerationMode.NEGATIVE] if operation.method == "post" else [])
            for mode in modes:

                @given(case=operation.as_strategy(generation_mode=mode))
                @settings(max_examples=25 if name == "churn" else 10, deadline=None, database=None,
                          phases=[Phase.generate], suppress_health_check=list(HealthCheck))  # fmt: skip
                def no_server_error(case):
                    response = case.call()
                    statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                    assert response.status_code < 500, f"{case.as_curl_command()}\n{response.text[:500]}"

                no_server_error()
    with capsys.disabled():
        counts = ", ".join(f"{code}: {n}" for code, n in sorted(statuses.items()))
        print(
            f"\nschemathesis: {sum(statuses.values())} cases, no 5xx ({counts}) in {time.perf_counter() - started:.0f} s"
        )
    assert statuses.get(200) and statuses.get(422)


# ---- the command: SIGTERM, a missing extra, a taken port -------------------------------------------------------


def test_sigterm_answers_the_request_in_flight_and_exits_0(runs):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.Popen([sys.executable, "-m", "dlcli", "serve", str(runs["churn"]), "--port", "0"],
                            stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)  # fmt: skip
    try:
        port = None
        for line in proc.stderr:
            found = re.search(r"on http://127\.0\.0\.1:(\d+)", line)
            if found:
                port = int(found.group(1))
                break
        assert port, "the server did not say where it listens"
        body = json.dumps({"rows": [ROW] * 3}).encode()
        head = f"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(head.encode() + body[:10])  # the request is in flight: headers read, body still coming
            # The server has read those headers once it answers a request sent after them (one event loop).
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=30) as health:
                assert health.status == 200
            proc.send_signal(signal.SIGTERM)
            assert wait_until_refused(port, timeout=60), "the server kept accepting connections after SIGTERM"
            sock.sendall(body[10:])  # shutting down now: the request in flight is still answered
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        status, _, payload = answer.partition(b"\r\n\r\n")
        assert status.startswith(b"HTTP/1.1 200"), answer[:300]
        assert json.loads(payload)["predictions"] == json.loads(payload)["predictions"][:1] * 3
        assert proc.wait(timeout=60) == 0  # a bound against hanging, not a speed test: load slows exiting
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stderr.close()


def wait_until_refused(port: int, timeout: float) -> bool:
    """True once nothing accepts connections on ``port`` (the server closed its listening socket)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            return True
        time.sleep(0.02)
    return False


def test_sigterm_while_the_model_loads_is_a_normal_exit(runs):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.Popen([sys.executable, "-m", "dlcli", "serve", str(runs["churn"]), "--port", str(port)],
                            stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # the port listens before TensorFlow and the model load
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert "serving" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stderr.close()


def test_a_missing_extra_is_exit_2_naming_it(runs, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "fastapi" else real(name, *a))
    result = invoke("serve", runs["churn"])
    assert result.exit_code == 2 and "pip install 'dlcli[serve]'" in result.stderr


def test_a_taken_port_or_a_bad_run_is_exit_2(runs, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        result = invoke("serve", runs["churn"], "--port", taken.getsockname()[1])
    assert result.exit_code == 2 and "cannot listen on 127.0.0.1" in result.stderr
    assert invoke("serve", tmp_path / "nothing").exit_code == 2


def test_importing_dlcli_imports_neither_tensorflow_nor_fastapi():
    code = "import sys, dlcli, dlcli.cli, dlcli.serve; print(sorted({'tensorflow', 'fastapi'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"
