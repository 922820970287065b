#!/usr/bin/env bash
# Two "machines" share one sweep through PostgreSQL: start a throwaway local server, run two
# `dlcli sweep` processes against it at once, check that the study finished exactly its trial
# budget, that no trial number ran twice and that both processes ran some, then stop the server.
#
#   scripts/sweep-postgres-smoke.sh                    two `dlcli sweep` processes (dlcli[sweep,postgres])
#   scripts/sweep-postgres-smoke.sh --selftest-optuna  two plain Optuna processes instead: checks this
#                                                      machine's PostgreSQL, Optuna and psycopg2, no TensorFlow
#
# Needs: PostgreSQL server binaries (initdb, pg_ctl, pg_isready, createdb; PG_BIN=DIR, else the newest
# /usr/lib/postgresql/*/bin, else PATH; as root with apt-get and none found, it installs `postgresql`),
# and a Python (PYTHON, default python3) that has optuna and psycopg2 (or psycopg), plus dlcli for the
# default mode. The dlcli mode gives `--storage postgresql://...` as a user would; PG_SCHEME names a
# driver instead (postgresql+psycopg2). SMOKE_TRIALS sets the budget (default 6).
# Run as root, the server runs as the `postgres` user (initdb refuses root). Exits 0 when every
# check passes; otherwise 1 with the reason on stderr. The server is stopped and its temporary
# directories removed on every way out.
set -euo pipefail

mode=dlcli
case "${1:-}" in
    "") ;;
    --selftest-optuna) mode=optuna ;;
    -h | --help) sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) printf 'sweep-postgres-smoke: unknown argument %q (try --help)\n' "$1" >&2; exit 2 ;;
esac

python="${PYTHON:-python3}"
budget="${SMOKE_TRIALS:-6}"
name=pg-smoke
study="dlcli-smoke-$$"

step() { printf '\n=== %s\n' "$*"; }
fail() { printf 'sweep-postgres-smoke: %s\n' "$*" >&2; exit 1; }

find_pg_bin() {
    if [[ -n "${PG_BIN:-}" ]]; then
        echo "$PG_BIN"
        return
    fi
    local newest
    newest=$(find /usr/lib/postgresql -mindepth 3 -maxdepth 3 -path '*/bin/initdb' 2> /dev/null | sort -V | tail -n 1)
    if [[ -n "$newest" ]]; then
        dirname "$newest"
    elif command -v initdb > /dev/null; then
        dirname "$(readlink -f "$(command -v initdb)")"
    fi
}

pg_bin=$(find_pg_bin)
if [[ -z "$pg_bin" || ! -x "$pg_bin/initdb" ]] && [[ -z "${PG_BIN:-}" && "$(id -u)" == 0 ]] && command -v apt-get > /dev/null; then
    step "no PostgreSQL server binaries: apt-get install postgresql"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql > /dev/null
    pg_bin=$(find_pg_bin)
fi
for tool in initdb pg_ctl pg_isready createdb; do
    [[ -n "$pg_bin" && -x "$pg_bin/$tool" ]] \
        || fail "no PostgreSQL $tool (looked in PG_BIN, /usr/lib/postgresql/*/bin, PATH): install postgresql or set PG_BIN"
done
command -v "$python" > /dev/null || fail "no Python '$python' (set PYTHON)"
"$python" -c 'import optuna' 2> /dev/null || fail "$python has no optuna: pip install 'dlcli[sweep,postgres]' (or set PYTHON)"
# SQLAlchemy 2.1 reads a plain postgresql:// as psycopg 3, 2.0 as psycopg2: name the one installed.
driver=$("$python" -c 'import importlib.util as u; print(" ".join(d for d in ("psycopg", "psycopg2") if u.find_spec(d)))')
driver=${driver%% *}
[[ -n "$driver" ]] || fail "$python has neither psycopg nor psycopg2: pip install 'dlcli[postgres]' (or set PYTHON)"
if [[ $mode == dlcli ]]; then
    "$python" -m dlcli sweep --help > /dev/null 2>&1 || fail "$python -m dlcli has no 'sweep' command"
fi

# As root the server's files belong to `postgres`, and every directory above them must let it in.
as_server=()
if [[ "$(id -u)" == 0 ]]; then
    id postgres > /dev/null 2>&1 || fail "running as root, but there is no 'postgres' user to run the server"
    as_server=(runuser -u postgres --)
fi

server_dir=""
work_dir=""
postmaster=""
workers=()
cleanup() {
    local status=$?
    for pid in "${workers[@]}"; do
        kill "$pid" 2> /dev/null || true
    done
    if [[ -n "$postmaster" ]] && kill -0 "$postmaster" 2> /dev/null; then
        "${as_server[@]}" "$pg_bin/pg_ctl" -D "$server_dir/data" -m fast -w -t 20 stop > /dev/null 2>&1 \
            || kill -TERM "$postmaster" 2> /dev/null || true
        for _ in $(seq 50); do
            kill -0 "$postmaster" 2> /dev/null || break
            sleep 0.2
        done
        if kill -0 "$postmaster" 2> /dev/null; then
            kill -KILL "$postmaster" 2> /dev/null || true
            echo "sweep-postgres-smoke: the server (pid $postmaster) ignored SIGTERM and was killed" >&2
        fi
    fi
    [[ -z "$server_dir" ]] || rm -rf "$server_dir"
    [[ -z "$work_dir" ]] || rm -rf "$work_dir"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

server_dir=$(mktemp -d /tmp/sweep-pg.XXXXXX)
work_dir=$(mktemp -d "${TMPDIR:-/tmp}/sweep-smoke.XXXXXX")
mkdir "$server_dir/sock"
head -c 18 /dev/urandom | base64 | tr -d '/+=' > "$server_dir/pwfile"
password=$(cat "$server_dir/pwfile")
[[ ${#as_server[@]} -eq 0 ]] || chown -R postgres: "$server_dir"
chmod 700 "$server_dir"

step "initdb with $pg_bin"
"${as_server[@]}" "$pg_bin/initdb" -D "$server_dir/data" -U sweep --pwfile="$server_dir/pwfile" \
    --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --no-locale > "$server_dir/initdb.log" 2>&1 \
    || fail "initdb failed: $(tail -n 20 "$server_dir/initdb.log")"

port=$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
step "start the server on 127.0.0.1:$port"
# fsync off: a throwaway server for one test, never a place for data that matters.
"${as_server[@]}" "$pg_bin/pg_ctl" -D "$server_dir/data" -l "$server_dir/server.log" -w -t 30 \
    -o "-p $port -k $server_dir/sock -c listen_addresses=127.0.0.1 -c fsync=off" start > /dev/null \
    || fail "the server did not start: $(tail -n 20 "$server_dir/server.log" 2> /dev/null)"
postmaster=$(head -n 1 "$server_dir/data/postmaster.pid")
for _ in $(seq 60); do
    "$pg_bin/pg_isready" -q -h 127.0.0.1 -p "$port" && break
    sleep 0.5
done
"$pg_bin/pg_isready" -q -h 127.0.0.1 -p "$port" || fail "the server (pid $postmaster) does not accept connections on 127.0.0.1:$port"
"$pg_bin/createdb" -h "$server_dir/sock" -p "$port" -U sweep sweep || fail "createdb failed"
# The dlcli mode passes the URL as a user writes it (PG_SCHEME=postgresql+psycopg2 to name a driver);
# the self-test names the driver it found, so it checks the machine whatever SQLAlchemy defaults to.
scheme=${PG_SCHEME:-postgresql}
[[ $mode == dlcli ]] || scheme="postgresql+$driver"
url="$scheme://sweep:$password@127.0.0.1:$port/sweep"
echo "server pid $postmaster, storage $scheme://sweep:***@127.0.0.1:$port/sweep"

# Trials as "status --json" lists them, one file per machine, plus for each machine the trial
# numbers it ran by its own record; then every check reads only those files.
check_trials() {
    "$python" - "$budget" "$work_dir" A B << 'EOF'
import json
import sys
from collections import Counter
from pathlib import Path

budget, work = int(sys.argv[1]), Path(sys.argv[2])
machines = sys.argv[3:]
problems, seen = [], {}
for m in machines:
    listed = json.loads((work / f"status-{m}.json").read_text())["trials"]
    twice = [n for n, k in Counter(t["number"] for t in listed).items() if k > 1]
    if twice:
        problems.append(f"machine {m}'s status lists trial numbers {twice} more than once")
    for t in listed:
        seen.setdefault(t["number"], t)
states = Counter(t["state"] for t in seen.values())
finished = sorted(n for n, t in seen.items() if t["state"] in ("complete", "pruned"))
print(f"study: {len(seen)} trials, " + ", ".join(f"{k} {v}" for k, v in sorted(states.items())))
if len(finished) != budget:
    problems.append(f"{len(finished)} finished trials (complete or pruned), not the budget of {budget}")
if states.get("fail") or states.get("running"):
    problems.append(f"{states.get('fail', 0)} failed and {states.get('running', 0)} running trials after both exited")
ran = {m: [int(n) for n in (work / f"ran-{m}.txt").read_text().split()] for m in machines}
every = [n for m in machines for n in ran[m]]
repeated = sorted(n for n, k in Counter(every).items() if k > 1)
for m in machines:
    print(f"machine {m} ran trials {sorted(ran[m])}")
    if not ran[m]:
        problems.append(f"machine {m} ran no trial: the two processes did not share the work")
if repeated:
    problems.append(f"trials {repeated} ran more than once")
if sorted(every) != sorted(seen):
    problems.append(f"the trials run {sorted(every)} are not the study's trials {sorted(seen)}")
for p in problems:
    print(f"sweep-postgres-smoke: {p}", file=sys.stderr)
sys.exit(1 if problems else 0)
EOF
}

# Wait for both machines; say which failed and show the end of its log.
wait_both() {
    local failed=0 m
    for m in A B; do
        if ! wait "${workers[0]}"; then
            echo "--- machine $m failed; the end of its log:" >&2
            tail -n 30 "$work_dir/$m.log" >&2
            if grep -q "Failed to import DB access module" "$work_dir/$m.log"; then
                echo "--- SQLAlchemy's driver for $scheme:// is not installed ($python has $driver): set PG_SCHEME=postgresql+$driver" >&2
            elif grep -q "UniqueViolation" "$work_dir/$m.log"; then
                echo "--- both machines found an empty database and raced to create Optuna's tables" >&2
            fi
            failed=1
        fi
        workers=("${workers[@]:1}")
    done
    [[ $failed == 0 ]] || fail "a sweep process failed"
}

if [[ $mode == optuna ]]; then
    # Two processes that both find an empty database race to create Optuna's tables, and one
    # fails (UniqueViolation on CREATE TYPE studydirection): made once here, as a setup step.
    "$python" -c 'import sys, optuna; optuna.storages.RDBStorage(sys.argv[1])' "$url" \
        || fail "Optuna cannot create its tables in the database"
    step "two Optuna processes share study $study ($budget trials, split between them)"
    for m in A B; do
        share=$((budget / 2))
        [[ $m == B ]] || share=$((budget - share))
        # Each trial sleeps a little so the two processes overlap; each records the numbers it ran.
        timeout 120 "$python" - "$url" "$study" "$share" "$work_dir/ran-$m.txt" "$m" > "$work_dir/$m.log" 2>&1 << 'EOF' &
import sys
import time

import optuna

url, study_name, n_trials, ran, machine = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
optuna.logging.set_verbosity(optuna.logging.WARNING)
study = optuna.create_study(
    storage=url, study_name=study_name, load_if_exists=True, sampler=optuna.samplers.RandomSampler(seed=ord(machine))
)


def objective(trial):
    x = trial.suggest_float("x", -10, 10)
    with open(ran, "a") as out:
        out.write(f"{trial.number}\n")
    time.sleep(0.3)
    return (x - 2) ** 2


open(ran, "w").close()
study.optimize(objective, n_trials=n_trials)
EOF
        workers+=("$!")
    done
    wait_both
    "$python" - "$url" "$study" "$work_dir" << 'EOF'
import json
import sys
from pathlib import Path

import optuna

url, study_name, work = sys.argv[1], sys.argv[2], Path(sys.argv[3])
trials = optuna.load_study(storage=url, study_name=study_name).get_trials(deepcopy=False)
listed = [
    {"number": t.number, "state": t.state.name.lower(), "value": t.value, "params": t.params, "run_dir": None}
    for t in trials
]
for machine in ("A", "B"):  # one storage: both machines see the same list
    (work / f"status-{machine}.json").write_text(json.dumps({"trials": listed}))
EOF
else
    step "two 'dlcli sweep' processes share the sweep $name ($budget trials)"
    cat > "$work_dir/smoke.yaml" << EOF
name: $name
seed: 0
data: {source: synthetic, name: xor, n_samples: 200}
model:
  layers:
    - {units: 8, activation: relu}
optimizer: {name: adam, learning_rate: 0.01}
training: {epochs: 2, batch_size: 32}
sweep:
  metric: val_accuracy
  direction: maximize
  trials: $budget
  sampler: {name: random, seed: 0}
  params:
    optimizer.learning_rate: {float: [1.0e-3, 1.0e-1], log: true}
    model.layers[0].units: {int: [4, 16]}
EOF
    for m in A B; do
        TF_CPP_MIN_LOG_LEVEL=3 CUDA_VISIBLE_DEVICES=-1 timeout 600 "$python" -m dlcli sweep "$work_dir/smoke.yaml" \
            --storage "$url" --output-dir "$work_dir/$m" > "$work_dir/$m.log" 2>&1 &
        workers+=("$!")
    done
    wait_both
    for m in A B; do
        sweep_dir="$work_dir/$m/$name"
        "$python" -m dlcli sweep status "$sweep_dir" --json > "$work_dir/status-$m.json" \
            || fail "dlcli sweep status $sweep_dir --json failed: $(cat "$work_dir/status-$m.json")"
        # A machine's own record of what it ran: the trial directories it made.
        find "$sweep_dir/trials" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' > "$work_dir/ran-$m.txt" 2> /dev/null \
            || fail "machine $m made no $sweep_dir/trials/ directory"
    done
fi

step "check the study"
check_trials || fail "the shared study is not what two machines sharing $budget trials should leave"
echo "sweep-postgres-smoke: ok ($mode)"
