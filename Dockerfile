# dlcli in a container. GPU by default: TensorFlow with CUDA and cuDNN from pip wheels, so
# the host needs only the NVIDIA driver and the container toolkit. The pinned CUDA wheels are
# CUDA 12.9 Update 1: driver >= 575.57.08 for all of it, >= 525.60.13 at the least (CUDA 12
# minor version compatibility).
#   docker build -t dlcli:gpu .
#   docker build --build-arg VARIANT=cpu -t dlcli:cpu .
#   mkdir -p runs
#   docker run --rm --gpus all --user "$(id -u):$(id -g)" -v "$PWD/data:/data" -v "$PWD/runs:/runs" \
#       dlcli:gpu train data/config.yaml
#   docker run --rm -p 8080:8080 -v "$PWD/runs:/runs" dlcli:gpu serve runs/NAME --host 0.0.0.0 --port 8080
# The working directory is /, so the relative paths data/... and runs/ (train's default
# output) are the two mount points, as they are beside a checkout. mkdir first: a directory
# that `docker run -v` creates belongs to root, and the container runs as you (--user) or 1000.

# Any Debian-like image with python3 (3.11 or 3.12) can stand in for the default.
ARG BASE_IMAGE=python:3.12-slim-bookworm
FROM ${BASE_IMAGE}

# gpu: tensorflow[and-cuda]; cpu: tensorflow-cpu. Each is pinned, with every dependency,
# in docker/constraints-<variant>.txt.
ARG VARIANT=gpu
# Kept in the image's history: an index URL with a password in it does not belong here.
ARG PIP_INDEX_URL=https://pypi.org/simple

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TF_CPP_MIN_LOG_LEVEL=2 \
    TF_FORCE_GPU_ALLOW_GROWTH=true \
    PATH=/opt/venv/bin:$PATH

# A virtual environment: Debian's own python3 refuses system-wide pip installs (PEP 668).
COPY docker/constraints-*.txt /tmp/constraints/
RUN if [ ! -f "/tmp/constraints/constraints-${VARIANT}.txt" ]; then \
        echo "VARIANT must be gpu or cpu (a docker/constraints-<variant>.txt), not '${VARIANT}'" >&2; exit 1; \
    fi \
    && python3 -m venv /opt/venv \
    && pip install --no-cache-dir --index-url "${PIP_INDEX_URL}" --no-deps \
        --requirement "/tmp/constraints/constraints-${VARIANT}.txt" \
    && pip check \
    && rm -rf /tmp/constraints

# dlcli last, so editing it does not reinstall TensorFlow. Its dependencies, and those of its
# serve and export extras, are all pinned above, and setuptools is the pinned one. The CPU
# variant's TensorFlow is the tensorflow-cpu distribution: dlcli is installed requiring that,
# so its metadata says what the image holds and pip check agrees. The --dry-run with
# --no-index fails if an extra needs anything the constraints did not install.
COPY pyproject.toml README.md /tmp/dlcli/
COPY dlcli /tmp/dlcli/dlcli
RUN if [ "${VARIANT}" = cpu ]; then \
        grep -q '^ *"tensorflow>=' /tmp/dlcli/pyproject.toml \
            || { echo "pyproject.toml has no \"tensorflow>=...\" dependency to make tensorflow-cpu" >&2; exit 1; }; \
        sed -i 's/^\( *\)"tensorflow>=/\1"tensorflow-cpu>=/' /tmp/dlcli/pyproject.toml; \
    fi \
    && pip install --no-cache-dir --no-deps --no-build-isolation /tmp/dlcli \
    && pip install --no-cache-dir --no-index --no-build-isolation --dry-run "/tmp/dlcli[serve,export]" \
    && pip check \
    && rm -rf /tmp/dlcli \
    && dlcli --help > /dev/null

# Any uid may run the image (docker run --user "$(id -u):$(id -g)" makes the run directories
# yours on the host): HOME, where Keras keeps its config, and matplotlib's config and font
# cache (built here once, not in every container) are writable by all, like /tmp.
ENV HOME=/home/dlcli \
    MPLCONFIGDIR=/home/dlcli/.config/matplotlib
RUN useradd --create-home --uid 1000 --user-group dlcli \
    && mkdir -p /data /runs "${MPLCONFIGDIR}" \
    && python -c "import matplotlib.font_manager" \
    && chown 1000:1000 /data /runs \
    && chmod 1777 /runs "${HOME}" "${HOME}/.config" "${MPLCONFIGDIR}"
VOLUME ["/data", "/runs"]
WORKDIR /
# dlcli serve --host 0.0.0.0 --port 8080
EXPOSE 8080
# Numeric, so that Kubernetes' runAsNonRoot can see it is not root.
USER 1000:1000

ENTRYPOINT ["dlcli"]
CMD ["--help"]
