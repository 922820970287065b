"""``dlcli serve RUN``: a run's model over HTTP, on FastAPI and uvicorn (the ``dlcli[serve]`` extra).

``create_app`` loads the model, warms its compiled function for any batch
size and returns the FastAPI app (``dlcli.serving.app``); ``serve`` runs it
with uvicorn. SIGTERM (or Ctrl-C) stops accepting connections, answers the
requests in flight and exits 0 (130 for Ctrl-C) within ``GRACE`` seconds
plus the time of a request already computing.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
from pathlib import Path

from dlcli.errors import UsageError
from dlcli.runs.saved import open_run

EXTRA = "pip install 'dlcli[serve]'"
MAX_ROWS = 10_000
GRACE = 3.0  # seconds in-flight requests get after SIGTERM before their connections are closed


def require_extra() -> None:
    """A UsageError (exit 2) that names the extra when FastAPI or uvicorn is not installed."""
    from importlib.util import find_spec

    missing = [name for name in ("fastapi", "uvicorn") if find_spec(name) is None]
    if missing:
        raise UsageError(f"dlcli serve needs {' and '.join(missing)}, which are not installed: {EXTRA}")


def create_app(run_dir: str | Path, *, max_rows: int = MAX_ROWS, device: str = "auto", window: float | None = None):
    """The FastAPI app serving the run in ``run_dir``, its model loaded and warm."""
    require_extra()
    from dlcli.predict import Predictor
    from dlcli.serving import batcher
    from dlcli.serving.app import build

    if max_rows < 1:
        raise UsageError(f"--max-rows must be at least 1; got {max_rows}")
    run = open_run(run_dir)
    predictor = Predictor(run, device)
    warm_up(predictor, run)
    return build(run, predictor, max_rows=max_rows, window=batcher.WINDOW if window is None else window)


def warm_up(predictor, run) -> None:
    """Trace the compiled function on batches of 1, 2 and 3 rows, so no later batch size traces it again."""
    from dlcli.serving.rows import features
    from dlcli.serving.schema import example_row

    row = example_row(run)
    for n in (1, 2, 3):
        predictor.outputs(features([row] * n, run.inputs))


def listen(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (port 0: any free one), or a UsageError saying why not."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # TCP: asyncio then sets TCP_NODELAY
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


def serve(run_dir: str | Path, host: str = "127.0.0.1", port: int = 8080, *, max_rows: int = MAX_ROWS,
          device: str = "auto", access_log: bool = False) -> None:  # fmt: skip
    """Serve the run until SIGTERM or Ctrl-C; prints the address on stderr once requests are answered."""
    require_extra()
    open_run(run_dir)  # a bad run directory fails before TensorFlow loads
    stop = _Stop()
    with _on_sigterm(stop):  # before the port opens: a client that sees it may stop us at once
        try:
            _run(stop, run_dir, host, port, max_rows=max_rows, device=device, access_log=access_log)
        except _Stopped:  # SIGTERM while TensorFlow and the model load: stop now, not after the warm-up
            return


def _run(stop, run_dir, host, port, *, max_rows, device, access_log) -> None:
    import uvicorn

    from dlcli.log import note

    sock = listen(host, port)
    with contextlib.closing(sock):
        app = create_app(run_dir, max_rows=max_rows, device=device)
        level = "info" if access_log else "warning"  # uvicorn logs requests at info
        config = uvicorn.Config(app, log_level=level, access_log=access_log, timeout_graceful_shutdown=GRACE)
        stop.loading = False
        stop.server = uvicorn.Server(config)
        if stop.requested:  # while the model loaded
            return
        bound = sock.getsockname()
        shown = f"[{bound[0]}]" if sock.family == socket.AF_INET6 else bound[0]
        note(
            f"serving {run_dir} on http://{shown}:{bound[1]} (POST /v1/predict; docs at /docs); Ctrl-C or SIGTERM stops"
        )
        stop.server.run(sockets=[sock])


class _Stopped(BaseException):  # not caught by the loaders' "except Exception"
    """SIGTERM arrived while the model was loading."""


class _Stop:
    """SIGTERM outside uvicorn's own handler: while the model loads, before uvicorn installs its handler, and when
    uvicorn, shut down, raises the signal again for the previous handler. Each is a normal stop (exit 0)."""

    def __init__(self):
        self.requested = False
        self.loading = True
        self.server = None

    def __call__(self, signum, frame) -> None:
        self.requested = True
        if self.server is not None:
            self.server.should_exit = True  # uvicorn checks it when it starts and on every tick
        elif self.loading:
            self.loading = False
            raise _Stopped  # interrupts the load (between Python steps) rather than waiting for it


@contextlib.contextmanager
def _on_sigterm(handler):
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
