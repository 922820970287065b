"""`dlcli serve` vs a naive FastAPI app that calls `model.predict` per request: same model, same client, one run.

A churn run (configs/churn_csv.yaml: 3 number and 2 categorical columns, 32-16
network) is trained for a few epochs; then both servers start, each in its own
process on a loopback port, and one client measures them in turn,
``--repeats`` times: one-row requests from 1 client (latency p50 and p99 over
``--requests`` requests after a warm-up), then from 16 clients on keep-alive
connections for ``--seconds`` seconds (rows/s). The naive app is what a first
FastAPI server looks like: a pydantic body, dlcli's row checks, then
``model.predict`` on the request's rows. Medians.

Usage: python benchmarks/serve.py [--repeats 3] [--requests 1000] [--seconds 5]
"""

from __future__ import annotations

import argparse
import http.client
import json
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import PYTHON, ROOT, Row, env, machine, table  # noqa: E402

ROW = {"tenure_months": 12, "monthly_fee": 30.5, "city": "lille", "plan": "pro", "support_calls": 2}
BODY = json.dumps({"rows": [ROW]}).encode()
CLIENTS = 16

NAIVE = textwrap.dedent(
    """
    import sys
    import uvicorn
    from fastapi import FastAPI
    from pydantic import BaseModel
    from dlcli.data import newrows
    from dlcli.data.features import model_inputs
    from dlcli.model.head import predicted_classes
    from dlcli.runs.saved import open_run

    run = open_run(sys.argv[1])
    model = run.load_model(compile=False)
    app = FastAPI()

    class Body(BaseModel):
        rows: list[dict]

    @app.get("/healthz")
    def healthz():
        return {"status": "ok"}

    @app.post("/v1/predict")
    def predict(body: Body):
        x = newrows.read(body.rows, run.inputs).x
        out = model.predict(model_inputs(x, run.inputs), verbose=0)
        return {"predictions": [run.labels[i] for i in predicted_classes(out, run.config.output.activation)]}

    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning", access_log=False)
    """
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def train(work: Path) -> str:
    args = [PYTHON, "-m", "dlcli", "train", str(ROOT / "configs" / "churn_csv.yaml"), "--set", "training.epochs=5",
            "--set", "training.plots=false", "--output-dir", str(work / "runs"), "--quiet"]  # fmt: skip
    out = subprocess.run(args, capture_output=True, text=True, env=env(), timeout=600, check=False)
    if out.returncode:
        raise SystemExit(f"training the churn run failed: {out.stderr[-1500:]}")
    return out.stdout.strip().splitlines()[-1]


def start(args: list[str], port: int) -> subprocess.Popen:
    """A server process, once its /healthz answers."""
    proc = subprocess.Popen(args, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{' '.join(args)[:120]} exited: {proc.stderr.read()[-1500:]}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"{' '.join(args)[:120]} did not answer /healthz in 120 s")


def post(conn: http.client.HTTPConnection) -> dict:
    conn.request("POST", "/v1/predict", BODY, {"Content-Type": "application/json"})
    response = conn.getresponse()
    payload = response.read()
    if response.status != 200:
        raise SystemExit(f"HTTP {response.status}: {payload[:300]!r}")
    return json.loads(payload)


def health(port: int) -> dict:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/healthz")
    return json.loads(conn.getresponse().read())


def latencies(port: int, requests: int) -> list[float]:
    """Milliseconds per one-row request, one client, one keep-alive connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    for _ in range(max(5, requests // 20)):
        post(conn)
    out = []
    for _ in range(requests):
        start_at = time.perf_counter()
        post(conn)
        out.append((time.perf_counter() - start_at) * 1e3)
    conn.close()
    return out


def throughput(port: int, clients: int, seconds: float) -> float:
    """Rows/s answered to ``clients`` threads sending one-row requests back to back."""
    counts = [0] * clients
    ready = threading.Barrier(clients + 1)
    go = threading.Event()
    stop_at = []

    def client(k: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        post(conn)
        ready.wait()
        go.wait()
        while time.perf_counter() < stop_at[0]:
            post(conn)
            counts[k] += 1
        conn.close()

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    ready.wait()
    began = time.perf_counter()
    stop_at.append(began + seconds)
    go.set()
    for t in threads:
        t.join()
    return sum(counts) / (time.perf_counter() - began)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(repeats: int = 3, requests: int = 1000, seconds: float = 5.0) -> list[Row]:
    work = Path(tempfile.mkdtemp(prefix="dlcli-serve-"))
    run = train(work)
    ports = {"dlcli": free_port(), "naive": free_port()}
    servers = {
        "dlcli": start([PYTHON, "-m", "dlcli", "serve", run, "--port", str(ports["dlcli"])], ports["dlcli"]),
        "naive": start([PYTHON, "-c", NAIVE, run, str(ports["naive"])], ports["naive"]),
    }
    got = {name: {"p50": [], "p99": [], "rows/s": []} for name in servers}
    per_call = []  # rows per model call in dlcli's server at 16 clients
    try:
        answers = {name: post(http.client.HTTPConnection("127.0.0.1", port)) for name, port in ports.items()}
        if answers["dlcli"]["predictions"] != answers["naive"]["predictions"]:
            raise SystemExit(f"the two servers disagree: {answers}")
        for _ in range(repeats):
            for name, port in ports.items():
                ms = latencies(port, requests if name == "dlcli" else max(20, requests // 10))
                got[name]["p50"].append(statistics.median(ms))
                got[name]["p99"].append(percentile(ms, 0.99))
                before = health(port)
                got[name]["rows/s"].append(throughput(port, CLIENTS, seconds))
                if name == "dlcli":
                    after = health(port)
                    per_call.append(
                        (after["rows"] - before["rows"]) / max(1, after["model_calls"] - before["model_calls"])
                    )
    finally:
        for proc in servers.values():
            proc.terminate()
        for proc in servers.values():
            proc.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)
    if servers["dlcli"].returncode != 0:
        raise SystemExit(f"dlcli serve exited {servers['dlcli'].returncode} on SIGTERM (expected 0)")
    naive, ours = got["naive"], got["dlcli"]
    return [
        Row("serve: one-row latency p50, 1 client", "ms", naive["p50"], ours["p50"], False, "<= 3 ms", None,
            "naive: FastAPI + pydantic + model.predict per request; dlcli: dlcli serve, same run", goal_value=3.0),
        Row("serve: one-row latency p99, 1 client", "ms", naive["p99"], ours["p99"], False, "-", None,
            f"naive over {max(20, requests // 10)} requests, dlcli over {requests}"),
        Row(f"serve: one-row requests, {CLIENTS} clients", "rows/s", naive["rows/s"], ours["rows/s"], True,
            ">= 20x naive", 20.0, f"{CLIENTS} threads of one client process, keep-alive, {seconds:g} s each; "
            f"dlcli batched {statistics.median(per_call):.1f} rows per model call"),
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--requests", type=int, default=1000, help="one-client requests to dlcli (naive: a tenth)")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each 16-client run")
    args = parser.parse_args()
    rows = measure(args.repeats, args.requests, args.seconds)
    print(f"dlcli serve vs naive FastAPI + model.predict, medians of {args.repeats}; {machine()}")
    print(table(rows))


if __name__ == "__main__":
    main()
