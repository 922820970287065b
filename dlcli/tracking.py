"""MLflow tracking (opt-in, ``dlcli[mlflow]``): a run directory mirrored to an MLflow run through ``MlflowClient``.

The run directory is the record; MLflow is a copy. Every MLflow call goes through ``Tracker._call``: the first
failure (a server that is down, a timeout, a refused value) is one warning line and ends tracking for that run,
never the training. No global ``mlflow.start_run`` state: each tracker holds its own client and run id.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from pathlib import Path
from urllib.parse import urlsplit

from dlcli.errors import ConfigError, Interrupted
from dlcli.log import note, warn, without_password
from dlcli.runs import store
from dlcli.version import __version__

EXTRA = "pip install 'dlcli[mlflow]'"
MAX_PARAM_VALUE = 6000  # MLflow refuses longer param values
MAX_KEY = 250  # and longer keys
# A server that is down must cost seconds, not MLflow's default 7 retries with backoff; stdout is dlcli's (the
# run directory, --json), so MLflow's "View run" lines stay off it and its INFO lines off stderr. The user's
# own settings of these variables win.
HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
    "MLFLOW_LOGGING_LEVEL": "WARNING",
}
PARENT = "mlflow.json"  # in a sweep directory: the MLflow run its trials are children of
SWEEP_ARTEFACTS = ("leaderboard.csv", "leaderboard.json", "best/trial.json", "best/test_metrics.json")
ARTEFACTS = (
    "config.yaml",
    "model.keras",
    "labels.json",
    "metrics.json",
    "history.csv",
    "environment.json",
    "run.json",
    "report.html",
)


def settings(config):
    """The config's ``tracking.mlflow`` section, or None."""
    tracking = getattr(config, "tracking", None)
    return tracking.mlflow if tracking is not None else None


def with_uri(config, uri: str | None, experiment: str | None = None):
    """``config`` with ``tracking.mlflow.uri`` set from ``--mlflow URI`` (keeping a configured experiment)."""
    if not uri:
        return config
    from dlcli.config.sections import MlflowConfig, TrackingConfig

    current = settings(config)
    experiment = experiment or (current.experiment if current else None)
    mlflow = MlflowConfig(uri=uri, experiment=experiment) if experiment else MlflowConfig(uri=uri)
    tracking = (config.tracking or TrackingConfig()).model_copy(update={"mlflow": mlflow})
    return config.copy_with(tracking=tracking)


def check(config) -> None:
    """A config that asks for MLflow without the extra installed is a located exit 2 naming the extra."""
    from importlib.util import find_spec

    if settings(config) is not None and find_spec("mlflow") is None:
        raise ConfigError(
            config.problem(("tracking", "mlflow"), f"MLflow is not installed; {EXTRA}, or remove tracking.mlflow")
        )


def flatten(data, prefix: str = "") -> dict[str, str]:
    """Nested config data as MLflow params: ``model.layers.0.units`` -> ``"64"``; long values cut to fit."""
    out: dict[str, str] = {}
    if isinstance(data, dict) and data:
        for key, value in data.items():
            out.update(flatten(value, f"{prefix}{key}."))
    elif isinstance(data, list) and data and all(isinstance(v, (dict, list)) for v in data):
        for i, value in enumerate(data):
            out.update(flatten(value, f"{prefix}{i}."))
    else:
        text = json.dumps(data) if isinstance(data, (dict, list)) else str(data)
        out[_key(prefix.rstrip("."))] = text[:MAX_PARAM_VALUE]
    return out


def _key(path: str) -> str:
    """An MLflow-safe param key: ``layers[0]`` as ``layers.0``; other characters MLflow refuses as ``_``."""
    path = re.sub(r"\[(\d+)\]", r".\1", path)
    return re.sub(r"[^A-Za-z0-9_\-. :/]", "_", path)[:MAX_KEY]


def _numbers(logs: dict) -> dict[str, float]:
    out = {}
    for key, value in (logs or {}).items():
        try:
            out[str(key)] = float(value)
        except (TypeError, ValueError):
            continue  # a learning-rate schedule object, a string: not a metric
    return out


class Tracker:
    """One MLflow run mirroring one run directory; inert after its first failure (or with no MLflow configured)."""

    def __init__(self, mlflow_config=None, *, parent_run_id: str | None = None):
        self.config = mlflow_config
        self.client = None
        self.run_id: str | None = None
        self.experiment_id: str | None = None
        self.parent_run_id = parent_run_id
        self.broken = mlflow_config is None

    @property
    def active(self) -> bool:
        return not self.broken and self.run_id is not None

    def _call(self, what: str, fn, *args, **kwargs):
        if self.broken:
            return None
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # MLflow raises many kinds; none may cost the run
            self.broken = True
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            password = urlsplit(self.config.uri).password
            first = (first.replace(password, "***") if password else first)[:200]  # MLflow quotes the URL
            where = f" (run {self.run_id})" if self.run_id else ""
            warn(
                f"MLflow tracking stopped{where}: {what} at {without_password(self.config.uri)} failed: "
                f"{type(exc).__name__}: {first}; the run directory is complete without it"
            )
            return None

    def start(self, run_name: str, tags: dict[str, str]) -> str | None:
        """Create the MLflow run (and the experiment on first use); returns its id, or None when tracking failed."""
        self._connect()
        experiment_id = self._call("opening the experiment", self._experiment_id)
        if experiment_id is None:
            return None
        self.experiment_id = experiment_id
        if self.parent_run_id:
            tags = {**tags, "mlflow.parentRunId": self.parent_run_id}
        run = self._call("creating the run", self.client.create_run, experiment_id, tags=tags, run_name=run_name)
        if run is not None:
            self.run_id = run.info.run_id
        return self.run_id

    def reopen(self, run_id: str) -> str | None:
        """Continue an existing MLflow run (a continued sweep's parent)."""
        self._connect()
        self.run_id = run_id
        self._call("reopening the run", self.client.update_run, run_id, status="RUNNING")
        return run_id if self.active else None

    def _connect(self) -> None:
        for key, value in HTTP_DEFAULTS.items():
            os.environ.setdefault(key, value)

        def client():
            from mlflow import MlflowClient

            return MlflowClient(tracking_uri=self.config.uri)

        self.client = self._call("connecting", client)

    def _experiment_id(self) -> str:
        found = self.client.get_experiment_by_name(self.config.experiment)
        return found.experiment_id if found is not None else self.client.create_experiment(self.config.experiment)

    def log_params(self, params: dict[str, str]) -> None:
        from mlflow.entities import Param

        items = [Param(k, v) for k, v in params.items()]
        for i in range(0, len(items), 100):  # MLflow takes at most 100 params per batch
            self._call("logging params", self.client.log_batch, self.run_id, params=items[i : i + 100])

    def log_metrics(self, values: dict[str, float], step: int) -> None:
        if not self.active or not values:
            return
        from mlflow.entities import Metric

        stamp = int(time.time() * 1000)
        metrics = [Metric(k, v, stamp, step) for k, v in values.items()]
        self._call("logging metrics", self.client.log_batch, self.run_id, metrics=metrics)

    def log_epoch(self, epoch: int, logs: dict) -> None:
        """A Keras epoch's logs as metrics at step ``epoch`` (from 1); an ``EpochReport`` hook."""
        self.log_metrics(_numbers(logs), epoch)

    def set_tags(self, tags: dict[str, str]) -> None:
        if not self.active:
            return
        from mlflow.entities import RunTag

        self._call(
            "setting tags", self.client.log_batch, self.run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()]
        )

    def log_run_dir(self, path: Path) -> None:
        """The run directory's files and plots/ as artefacts."""
        for name in ARTEFACTS:
            if self.active and (path / name).is_file():
                self._call(f"uploading {name}", self.client.log_artifact, self.run_id, str(path / name))
        for folder in ("plots", "report"):
            if self.active and (path / folder).is_dir():
                self._call(f"uploading {folder}/", self.client.log_artifacts, self.run_id, str(path / folder), folder)

    def end(self, status: str) -> None:
        """Mark the MLflow run FINISHED, FAILED or KILLED."""
        if self.active:
            self._call("closing the run", self.client.set_terminated, self.run_id, status)


def tags_for(run, environment: dict) -> dict[str, str]:
    """What identifies a run in MLflow: its directory, versions, seed and data fingerprint."""
    data = environment.get("data", {})
    kept = ("source", "name", "files", "arrays_sha256", "rows", "streaming")  # fingerprint.of's keys, less columns
    fingerprint = {k: v for k, v in data.items() if k in kept and v is not None}
    return {
        "dlcli.run_dir": str(Path(run.path).resolve()),
        "dlcli.version": __version__,
        "tensorflow.version": str(environment.get("tensorflow", "")),
        "keras.version": str(environment.get("keras", "")),
        "dlcli.seed": str(environment.get("seed", "")),
        "dlcli.data_fingerprint": json.dumps(fingerprint, sort_keys=True)[:5000],
    }


def start_for_run(config, run, environment: dict, *, parent_run_id: str | None = None, chief: bool = True) -> Tracker:
    """A tracker for a run directory just started: its MLflow run created, params and tags logged, its id in
    run.json. An inert tracker when the config asks for no tracking, or for a worker that is not the chief."""
    tracker = Tracker(settings(config) if chief else None, parent_run_id=parent_run_id)
    if tracker.broken:
        return tracker
    name = config.name if parent_run_id else run.path.name  # a trial's directory is its bare number
    run_id = tracker.start(name, tags_for(run, environment))
    if run_id is None:
        return tracker
    tracker.log_params(flatten(config.dump()))
    run.record(
        mlflow={"run_id": run_id, "experiment": tracker.config.experiment, "uri": without_password(tracker.config.uri)}
    )
    note(
        f"dlcli: MLflow run {run_id} in experiment {tracker.config.experiment} at {without_password(tracker.config.uri)}"
    )
    if tracker.config.uri.startswith(("http://", "https://")):
        base = without_password(tracker.config.uri).rstrip("/")
        note(f"dlcli: MLflow UI: {base}/#/experiments/{tracker.experiment_id}/runs/{run_id}")
    return tracker


def reopen_for_run(config, run) -> Tracker:
    """A tracker for a resumed run: the MLflow run recorded in its run.json goes on (epochs after the
    checkpoint are logged again at the same steps), or a new one when the run was not tracked yet."""
    recorded = run.state.get("mlflow") or {}
    if settings(config) is None or not recorded.get("run_id"):
        environment = store.read_json_if_present(run.path / store.ENVIRONMENT, {})
        return start_for_run(config, run, environment)
    tracker = Tracker(settings(config))
    if tracker.reopen(recorded["run_id"]) is not None:
        note(f"dlcli: MLflow run {tracker.run_id} goes on")
    return tracker


@contextlib.contextmanager
def mirrored(tracker: Tracker):
    """Marks the MLflow run KILLED (Ctrl-C) or FAILED when the training inside fails, and lets the error go on."""
    try:
        yield
    except BaseException as exc:
        tracker.end("KILLED" if isinstance(exc, (Interrupted, KeyboardInterrupt)) else "FAILED")
        raise


def finish(tracker: Tracker, run_path: Path, metrics: dict) -> None:
    """Test metrics (as ``test_<name>``), the run directory's artefacts, FINISHED."""
    if not tracker.active:
        return
    tracker.log_metrics({f"test_{k}": v for k, v in _numbers(metrics).items()}, step=0)
    tracker.log_run_dir(Path(run_path))
    tracker.end("FINISHED")


def start_sweep(config, sweep_dir: Path) -> Tracker:
    """The sweep's parent MLflow run: created once per sweep directory (``mlflow.json``), reopened when the
    sweep continues; its trials become its children. An inert tracker without tracking or when MLflow fails."""
    tracker = Tracker(settings(config))
    if tracker.broken:
        return tracker
    saved = store.read_json_if_present(sweep_dir / PARENT)
    same = saved is not None and saved.get("uri") == tracker.config.uri
    if same and saved.get("experiment") == tracker.config.experiment:
        tracker.reopen(saved["run_id"])
    else:
        tags = {"dlcli.sweep_dir": str(sweep_dir.resolve()), "dlcli.version": __version__}
        if tracker.start(sweep_dir.name, tags) is not None:
            tracker.log_params(flatten(config.dump()))
    if tracker.active:
        record = {"run_id": tracker.run_id, "uri": tracker.config.uri, "experiment": tracker.config.experiment}
        store.atomic_write_json(sweep_dir / PARENT, record)
        if without_password(tracker.config.uri) != tracker.config.uri:
            (sweep_dir / PARENT).chmod(0o600)  # it holds a password
        note(f"dlcli: MLflow parent run {tracker.run_id} in experiment {tracker.config.experiment}")
    else:
        (sweep_dir / PARENT).unlink(missing_ok=True)  # the trials must not log to a parent that is not there
    return tracker


def for_trial(config, sweep_dir: Path):
    """(a trial's config, its parent run id): tracked as a child of the sweep's parent run, or not at all."""
    parent = store.read_json_if_present(Path(sweep_dir) / PARENT)
    if parent is None:
        return (config.copy_with(tracking=None) if settings(config) else config), None
    return with_uri(config, parent["uri"], parent["experiment"]), parent["run_id"]


def finish_sweep(tracker: Tracker, outcome) -> None:
    """The best trial's metric and test metrics, the leaderboard and best/ as artefacts, FINISHED."""
    if not tracker.active:
        return
    best = outcome.best
    if best is not None and best.get("value") is not None:
        values = {f"best_{outcome.info['metric']}": best["value"], "best_trial": best["number"]}
        values.update({f"test_{k}": v for k, v in _numbers(outcome.test_metrics or {}).items()})
        tracker.log_metrics(_numbers(values), step=0)
        tracker.set_tags({"dlcli.best_run_dir": str(best.get("run_dir", ""))})
    for name in SWEEP_ARTEFACTS:
        path = Path(outcome.sweep_dir) / name
        if tracker.active and path.is_file():
            folder = str(Path(name).parent) if "/" in name else None
            tracker._call(f"uploading {name}", tracker.client.log_artifact, tracker.run_id, str(path), folder)
    for path in outcome.plots:
        if tracker.active and Path(path).is_file():
            tracker._call(
                f"uploading {Path(path).name}", tracker.client.log_artifact, tracker.run_id, str(path), "plots"
            )
    tracker.end("FINISHED")
