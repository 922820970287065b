"""scripts/sweep-postgres-smoke.sh: a throwaway PostgreSQL shared by two sweep processes, started and stopped.

The self-test (two plain Optuna processes) needs only the server binaries,
optuna and a PostgreSQL driver; the full run also needs ``dlcli sweep``.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import pwd
import shutil
import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow  # a PostgreSQL server and sweep processes

SCRIPT = ROOT / "scripts" / "sweep-postgres-smoke.sh"


def postgres_missing() -> str | None:
    """Why the script cannot start a server here, or None when it can."""
    if os.environ.get("PG_BIN"):
        found = os.path.exists(os.path.join(os.environ["PG_BIN"], "initdb"))
    else:
        found = bool(glob.glob("/usr/lib/postgresql/*/bin/initdb")) or shutil.which("initdb") is not None
    if not found:
        return "no PostgreSQL server binaries (apt-get install postgresql, or set PG_BIN)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no postgres user for initdb to run as"
        if shutil.which("runuser") is None:
            return "running as root without runuser, so initdb cannot run as the postgres user"
    return None


def python_missing() -> str | None:
    if importlib.util.find_spec("optuna") is None:
        return "optuna is not installed (pip install 'dlcli[sweep]')"
    if not any(importlib.util.find_spec(d) for d in ("psycopg", "psycopg2")):
        return "no PostgreSQL driver (pip install 'dlcli[postgres]')"
    return None


def sweep_missing() -> str | None:
    done = subprocess.run(
        [sys.executable, "-m", "dlcli", "sweep", "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    return None if done.returncode == 0 else "this dlcli has no `sweep` command yet"


def smoke(*args: str, timeout: float) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHON": sys.executable, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run(
        ["bash", str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=timeout, check=False
    )


def skip_unless_ready(*reasons: str | None) -> None:
    for reason in reasons:
        if reason:
            pytest.skip(reason)


def test_selftest_shares_one_study_between_two_optuna_processes():
    skip_unless_ready(postgres_missing(), python_missing())
    done = smoke("--selftest-optuna", timeout=120)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert "sweep-postgres-smoke: ok (optuna)" in done.stdout
    assert "complete 6" in done.stdout


def test_two_dlcli_sweeps_share_the_trial_budget():
    skip_unless_ready(postgres_missing(), python_missing(), sweep_missing())
    done = smoke(timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert "sweep-postgres-smoke: ok (dlcli)" in done.stdout


@pytest.mark.skipif(
    shutil.which("shellcheck") is None, reason="shellcheck is not installed (apt-get install shellcheck)"
)
def test_shellcheck_finds_nothing_in_the_postgres_smoke_script():
    done = subprocess.run(["shellcheck", str(SCRIPT)], capture_output=True, text=True, timeout=60, check=False)
    assert (done.returncode, done.stdout) == (0, "")
