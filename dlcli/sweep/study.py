"""The Optuna study behind a sweep: its storage, sampler and pruner from the config, who owns each running trial.

The sweep directory's ``sweep.json`` records the storage, so a rerun, ``dlcli
sweep status`` and every machine sharing the study open the same one. The
default storage is Optuna's journal file in the sweep directory (several
processes on one host); ``--storage`` takes any SQLAlchemy URL Optuna's
RDBStorage supports (PostgreSQL across machines).

Each running trial records its owner (host, pid and the pid's start time); a
running trial whose owner on this host is gone was left by a killed or
interrupted worker, and the next start continues it rather than starting it over.
"""

from __future__ import annotations

import contextlib
import os
import platform
import time
import warnings
from pathlib import Path

from dlcli.errors import MissingExtra, UsageError
from dlcli.log import without_password
from dlcli.runs import store

SWEEP_JSON = "sweep.json"
JOURNAL = "study.journal"
EXTRA = "pip install 'dlcli[sweep]'"
# Sampler -> the modules Optuna needs for it besides itself, and where they come from.
SAMPLER_NEEDS = {"gp": ("torch", "scipy"), "cmaes": ("cmaes",), "qmc": ("scipy",)}
UNOWNED_GRACE_S = 600  # a running trial with no owner recorded (killed right after it was asked) is stale after this


def import_optuna():
    """Optuna, quiet, or MissingExtra naming the extra."""
    try:
        import optuna
    except ImportError:
        raise MissingExtra(f"dlcli sweep needs optuna, which is not installed: {EXTRA}") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    return optuna


def check_sampler(name: str, where: str) -> None:
    """The sampler's own dependencies are importable, or a MissingExtra that names them."""
    from importlib.util import find_spec

    missing = [m for m in SAMPLER_NEEDS.get(name, ()) if find_spec(m) is None]
    if missing:
        raise MissingExtra(
            f"{where}: sweep.sampler.name: {name} needs {', '.join(missing)}: pip install {' '.join(missing)}"
        )


def check_storage(url: str | None) -> None:
    """A URL Optuna can open, with its database driver installed (before anything is created)."""
    if url is None:
        return
    if "://" not in url:
        raise UsageError(
            f"--storage {without_password(url)}: expected a database URL such as postgresql://user@host/db or sqlite:///file.db"
        )
    scheme, _, driver = url.split(":", 1)[0].lower().partition("+")
    if scheme in ("postgresql", "postgres"):
        from importlib.util import find_spec

        wanted = [driver] if driver else ["psycopg", "psycopg2"]
        if not any(find_spec(module) for module in wanted):
            raise MissingExtra(
                f"--storage {without_password(url)}: PostgreSQL needs the {' or '.join(wanted)} driver: pip install 'dlcli[postgres]'"
            )


def _driver_url(url: str) -> str:
    """A plain ``postgresql://`` URL names the driver that is installed (SQLAlchemy's default is psycopg 3)."""
    from importlib.util import find_spec

    scheme, sep, rest = url.partition("://")
    if scheme.lower() in ("postgresql", "postgres") and find_spec("psycopg") is None and find_spec("psycopg2"):
        return f"postgresql+psycopg2{sep}{rest}"
    return url


OPEN_TRIES = 3  # machines starting at once on an empty database race to create Optuna's tables


def storage(url: str | None, sweep_dir: Path):
    """The Optuna storage for ``url`` (None: the journal file in ``sweep_dir``)."""
    optuna = import_optuna()
    if url is None:
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        return JournalStorage(JournalFileBackend(str(sweep_dir / JOURNAL)))
    for attempt in range(OPEN_TRIES):
        try:
            kwargs = {"pool_pre_ping": True} if "sqlite" not in url else {}
            return optuna.storages.RDBStorage(_driver_url(url), engine_kwargs=kwargs)
        except Exception as exc:  # SQLAlchemy's many ways to say a URL cannot be opened
            racing = "already exists" in str(exc) or "UniqueViolation" in str(exc) or "IntegrityError" in str(exc)
            if racing and attempt + 1 < OPEN_TRIES:
                time.sleep(0.5 + attempt)  # another machine is creating the tables: they exist in a moment
                continue
            raise UsageError(
                f"--storage {without_password(url)}: cannot open the study storage: {type(exc).__name__}: "
                f"{str(exc).replace(url, without_password(url))[:200]}"
            ) from None


def sampler(sweep, seed: int):
    """The Optuna sampler the config names, seeded with ``seed``."""
    optuna = import_optuna()
    from dlcli.sweep import space

    kinds = {
        "tpe": lambda: optuna.samplers.TPESampler(seed=seed),
        "random": lambda: optuna.samplers.RandomSampler(seed=seed),
        "grid": lambda: _grid(optuna)(space.grid(sweep.params), seed=seed),
        "gp": lambda: optuna.samplers.GPSampler(seed=seed),
        "cmaes": lambda: optuna.samplers.CmaEsSampler(seed=seed),
        "qmc": lambda: optuna.samplers.QMCSampler(seed=seed),
    }
    return kinds[sweep.sampler.name]()


def _grid(optuna):
    class Grid(optuna.samplers.GridSampler):
        """Optuna's grid sampler without its ``study.stop()`` once the grid is done, which only works inside
        ``study.optimize``; workers ask and tell, and the sweep's budget is the grid's size (``budget``)."""

        def after_trial(self, study, trial, state, values) -> None:
            pass

    return Grid


def pruner(sweep):
    """The Optuna pruner the config names; steps are epochs."""
    optuna = import_optuna()
    p = sweep.pruner
    kinds = {
        "median": lambda: optuna.pruners.MedianPruner(
            n_startup_trials=p.startup_trials, n_warmup_steps=p.warmup_epochs
        ),
        "hyperband": lambda: optuna.pruners.HyperbandPruner(min_resource=max(1, p.warmup_epochs)),
        "successive_halving": lambda: optuna.pruners.SuccessiveHalvingPruner(min_resource=max(1, p.warmup_epochs)),
        "threshold": lambda: optuna.pruners.ThresholdPruner(
            lower=p.lower, upper=p.upper, n_warmup_steps=p.warmup_epochs
        ),
        "none": lambda: optuna.pruners.NopPruner(),
    }
    return kinds[p.name]()


def budget(sweep) -> int | None:
    """Trials in the whole study: ``trials``, or a grid's size."""
    if sweep.trials is not None:
        return sweep.trials
    if sweep.sampler.name == "grid":
        from dlcli.sweep import space

        sizes = [len(values) for values in space.grid(sweep.params).values()]
        total = 1
        for size in sizes:
            total *= size
        return total
    return None


def record(sweep_dir: Path, config_path: Path, url: str | None, name: str, direction: str, metric: str) -> dict:
    """sweep.json: what opens the study again; an existing one must agree with ``url``."""
    path = sweep_dir / SWEEP_JSON
    recorded = store.read_json_if_present(path)
    if recorded is not None:
        if url is not None and url != recorded.get("storage"):
            raise UsageError(
                f"{sweep_dir}: this sweep's study is in {without_password(recorded.get('storage')) or 'its journal file'}, "
                f"not {without_password(url)}; "
                "give the same --storage (or none), or another --output-dir"
            )
        return recorded
    info = {
        "name": name,
        "study": name,
        "storage": url,
        "journal": JOURNAL if url is None else None,
        "config": str(config_path.resolve()),
        "metric": metric,
        "direction": direction,
        "created_at": store.now(),
    }
    store.atomic_write_json(path, info)
    if url is not None and without_password(url) != url:
        path.chmod(0o600)  # it holds the database password, like ~/.pgpass
    return info


def open_recorded(sweep_dir: Path, sweep=None):
    """The study a sweep directory records (for ``status`` and the workers), with ``sweep``'s pruner."""
    info = read_record(sweep_dir)
    optuna = import_optuna()
    chosen = {} if sweep is None else {"pruner": pruner(sweep)}
    try:
        found = optuna.load_study(study_name=info["study"], storage=storage(info.get("storage"), sweep_dir), **chosen)
        return found, info
    except KeyError:
        raise UsageError(f"{sweep_dir}: the study {info['study']} is not in its storage") from None


def read_record(sweep_dir: Path) -> dict:
    path = Path(sweep_dir) / SWEEP_JSON
    if not path.is_file():
        raise UsageError(f"{sweep_dir}: no {SWEEP_JSON}; give the directory `dlcli sweep` printed")
    return store.read_json_object(path)


# -- owners of running trials ------------------------------------------------------------------


def _started(pid: int) -> str | None:
    """When process ``pid`` started (clock ticks since boot, from /proc), or None where unknown."""
    with contextlib.suppress(OSError, IndexError):
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    return None


def owner() -> dict:
    """This process as a trial's owner."""
    return {"host": platform.node(), "pid": os.getpid(), "pid_started": _started(os.getpid())}


def owner_gone(trial) -> bool:
    """Is a running trial's owner, on this host, no longer running? (Another host's trials are left to it.)"""
    from dlcli.runs.run import alive

    who = trial.user_attrs.get("owner")
    if not who:
        started = trial.datetime_start.timestamp() if trial.datetime_start else time.time()
        return time.time() - started > UNOWNED_GRACE_S
    if who.get("host") != platform.node():
        return False
    pid = who.get("pid")
    if not alive(pid):
        return True
    return who.get("pid_started") is not None and _started(pid) not in (None, who["pid_started"])


def stale(study) -> list:
    """Running trials whose owner is gone, oldest first."""
    optuna = import_optuna()
    running = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
    return [t for t in running if owner_gone(t)]
