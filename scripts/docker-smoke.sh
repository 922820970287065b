#!/usr/bin/env bash
# Build the CPU image and train the built-in digits example in it, end to end.
#
#   scripts/docker-smoke.sh [BASE_IMAGE]      (or BASE_IMAGE=... scripts/docker-smoke.sh)
#
# Needs: a running Docker engine (DOCKER_HOST is honoured) and a base image with python3 3.11
# or 3.12 that is already local or pullable; the default is the Dockerfile's own,
# python:3.12-slim-bookworm. The build downloads the pinned wheels from PIP_INDEX_URL
# (default: PyPI). Leaves the image dlcli:cpu-smoke and the run directory under
# ./smoke-runs (or SMOKE_RUNS_DIR).
set -euo pipefail

base_image="${1:-${BASE_IMAGE:-python:3.12-slim-bookworm}}"
pip_index_url="${PIP_INDEX_URL:-https://pypi.org/simple}"
image="dlcli:cpu-smoke"
cd "$(dirname "$0")/.."
runs_dir="${SMOKE_RUNS_DIR:-$PWD/smoke-runs}"

step() { printf '\n=== %s\n' "$*"; }
fail() { printf 'docker-smoke: %s\n' "$*" >&2; exit 1; }

command -v docker > /dev/null || fail "needs the docker client on PATH"
docker version > /dev/null 2>&1 \
    || fail "no Docker engine answers (start dockerd, or set DOCKER_HOST to its socket)"
if ! docker image inspect "$base_image" > /dev/null 2>&1; then
    docker pull "$base_image" \
        || fail "base image '$base_image' is neither local nor pullable; pass a local one as the first argument"
fi

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

step "dlcli info"
docker run --rm "$image" info

step "dlcli train (built-in digits example, 2 epochs) into $runs_dir"
# The image runs as uid 1000, which must be able to write into the bind mount.
mkdir -p "$runs_dir"
chmod a+rwx "$runs_dir"
start=$SECONDS
output=$(docker run --rm -v "$runs_dir:/runs" "$image" train --output-dir /runs --set training.epochs=2)
printf '%s\n' "$output"
run_path=$(tail -n 1 <<< "$output")
echo "trained in $((SECONDS - start)) s"

step "run directory on the host"
run_dir="$runs_dir/${run_path#/runs/}"
[[ "$run_path" == /runs/* && -d "$run_dir" ]] \
    || fail "train's last line should be a run directory under /runs, got '$run_path'"
ls -lR "$run_dir"
grep -Eq '"status": *"complete"' "$run_dir/run.json" \
    || fail "$run_dir/run.json does not say \"status\": \"complete\": $(cat "$run_dir/run.json")"
echo "run.json: status complete"
echo "docker-smoke: ok"
