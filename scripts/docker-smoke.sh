#!/usr/bin/env bash
# Build the CPU image and use it as the README says, the way a fresh host meets it: pip check,
# train the built-in digits example into a runs/ that does not exist yet, serve that run and
# ask it for one prediction.
#
#   scripts/docker-smoke.sh [BASE_IMAGE]      (or BASE_IMAGE=... scripts/docker-smoke.sh)
#
# Needs: a running Docker engine (DOCKER_HOST is honoured), curl, and a base image with python3
# 3.11 or 3.12 that is already local or pullable; the default is the Dockerfile's own,
# python:3.12-slim-bookworm. The build downloads the pinned wheels from PIP_INDEX_URL
# (default: PyPI). Leaves the image dlcli:cpu-smoke and the runs under
# ./smoke-runs/<timestamp> (or SMOKE_DIR, which must not exist yet).
#
# The README's commands run as you: --user "$(id -u):$(id -g)". Run as root (as in CI), the
# script stands in for a user the image has never heard of, SMOKE_USER (default 4242:4242),
# which is the case that needs a writable HOME in the image.
set -euo pipefail

base_image="${1:-${BASE_IMAGE:-python:3.12-slim-bookworm}}"
pip_index_url="${PIP_INDEX_URL:-https://pypi.org/simple}"
image="dlcli:cpu-smoke"
cd "$(dirname "$0")/.."
smoke_dir="${SMOKE_DIR:-$PWD/smoke-runs/$(date +%Y%m%d-%H%M%S)}"
runs_dir="$smoke_dir/runs"
user="$(id -u):$(id -g)"
[[ "$user" != 0:* ]] || user="${SMOKE_USER:-4242:4242}"

step() { printf '\n=== %s\n' "$*"; }
fail() { printf 'docker-smoke: %s\n' "$*" >&2; exit 1; }

command -v docker > /dev/null || fail "needs the docker client on PATH"
command -v curl > /dev/null || fail "needs curl on PATH"
docker version > /dev/null 2>&1 \
    || fail "no Docker engine answers (start dockerd, or set DOCKER_HOST to its socket)"
[[ ! -e "$smoke_dir" ]] || fail "$smoke_dir exists already: the smoke test is a first run, give a new SMOKE_DIR"
if ! docker image inspect "$base_image" > /dev/null 2>&1; then
    docker pull "$base_image" \
        || fail "base image '$base_image' is neither local nor pullable; pass a local one as the first argument"
fi

server=""
cleanup() { if [[ -n "$server" ]]; then docker rm -f "$server" > /dev/null 2>&1 || true; fi; }
trap cleanup EXIT

step "build $image on $base_image"
start=$SECONDS
DOCKER_BUILDKIT=0 docker build \
    --build-arg VARIANT=cpu \
    --build-arg BASE_IMAGE="$base_image" \
    --build-arg PIP_INDEX_URL="$pip_index_url" \
    -t "$image" .
echo "built in $((SECONDS - start)) s"
docker image inspect -f '{{.Size}}' "$image" \
    | awk '{ printf "image size: %.0f MB (%.0f bytes)\n", $1 / 1e6, $1 }'

step "pip check in the image"
docker run --rm --entrypoint pip "$image" check

step "dlcli info"
docker run --rm "$image" info

step "without the README's steps: Docker creates the runs directory as root, the image runs as uid 1000"
mkdir -p "$smoke_dir"
set +e
denied=$(docker run --rm -v "$smoke_dir/root-owned-runs:/runs" "$image" \
    train --output-dir /runs --set training.epochs=1 2>&1 > /dev/null)
status=$?
set -e
printf '%s\n' "$denied"
if [[ $status -eq 0 ]]; then
    echo "(this Docker made a directory the container may write, rootless or Desktop: nothing to explain)"
else
    [[ $status -eq 2 ]] || fail "a run directory that cannot be created should exit 2, not $status"
    # shellcheck disable=SC2016  # the literal text of the fix, as the user would paste it
    grep -qF -- '--user "$(id -u):$(id -g)"' <<< "$denied" \
        || fail "the permission error does not name the fix (--user \"\$(id -u):\$(id -g)\")"
    echo "exit 2, and the message names the fix"
fi

step "the README's first run, as uid:gid $user: train the built-in example (2 epochs) into $runs_dir"
mkdir -p "$runs_dir"
[[ "$user" == "$(id -u):$(id -g)" ]] || chown "$user" "$runs_dir"  # what the user's own mkdir gives
start=$SECONDS
output=$(docker run --rm --user "$user" -v "$runs_dir:/runs" "$image" train --output-dir /runs --set training.epochs=2)
printf '%s\n' "$output"
run_path=$(tail -n 1 <<< "$output")
echo "trained in $((SECONDS - start)) s"

step "run directory on the host"
run_dir="$runs_dir/${run_path#/runs/}"
[[ "$run_path" == /runs/* && -d "$run_dir" ]] \
    || fail "train's last line should be a run directory under /runs, got '$run_path'"
ls -ln "$run_dir"
grep -Eq '"status": *"complete"' "$run_dir/run.json" \
    || fail "$run_dir/run.json does not say \"status\": \"complete\": $(cat "$run_dir/run.json")"
echo "run.json: status complete"
[[ "$(stat -c %u:%g "$run_dir/model.keras")" == "$user" ]] \
    || fail "$run_dir/model.keras belongs to $(stat -c %u:%g "$run_dir/model.keras"), not to $user"
echo "owned by $user, like the rest of your files"

step "serve the run on a free port of 127.0.0.1"
server=$(docker run -d --user "$user" -p 127.0.0.1::8080 -v "$runs_dir:/runs" "$image" \
    serve "$run_path" --host 0.0.0.0 --port 8080)
port=$(docker port "$server" 8080/tcp | head -n 1)
port=${port##*:}
url="http://127.0.0.1:$port"
echo "container ${server:0:12} on $url"
# serve listens before it loads the model: a request then connects and waits, so each poll has
# its own time limit, or a load that hangs would hang this loop past its 120 s.
start=$SECONDS
while ! curl -fsS --max-time 5 "$url/healthz" > /dev/null 2>&1; do
    if [[ "$(docker inspect -f '{{.State.Running}}' "$server")" != true ]]; then
        docker logs "$server" >&2 || true
        fail "serve exited before /healthz answered (exit $(docker inspect -f '{{.State.ExitCode}}' "$server"))"
    fi
    ((SECONDS - start < 120)) || { docker logs "$server" >&2; fail "no answer from $url/healthz within 120 s"; }
    sleep 1
done
curl -fsS --max-time 5 "$url/healthz" || { docker logs "$server" >&2; fail "$url/healthz answered once, then not"; }
echo
echo "/healthz answered $((SECONDS - start)) s after the container started"

step "POST /v1/predict with one row of the digits example"
# The feature names the run recorded (environment.json data.features), valued from the first
# digit scikit-learn ships: the built-in example trains on exactly these columns.
body=$(docker run --rm --user "$user" -v "$runs_dir:/runs:ro" --entrypoint python "$image" -c '
import json, sys
from sklearn.datasets import load_digits
digits = load_digits(as_frame=True).frame
features = json.load(open(sys.argv[1])).get("data", {}).get("features") or list(digits.columns[:-1])
print(json.dumps({"rows": [{name: float(digits[name][0]) for name in features}]}))
' "$run_path/environment.json")
answer=$(curl -sS --fail-with-body -X POST -H 'Content-Type: application/json' --data "$body" "$url/v1/predict") \
    || { docker logs "$server" >&2; fail "POST $url/v1/predict failed"; }
printf '%s\n' "$answer"
grep -q '"predictions"' <<< "$answer" || fail "the answer has no \"predictions\""

step "stop the server"
docker stop "$server" > /dev/null
code=$(docker inspect -f '{{.State.ExitCode}}' "$server")
docker rm "$server" > /dev/null
server=""
[[ "$code" == 0 ]] || fail "serve exited $code on SIGTERM, not 0"
echo "serve exited 0 on SIGTERM"
echo "docker-smoke: ok"
