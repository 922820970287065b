"""Import TensorFlow quietly and choose the device, before any op runs.

The ``tensorflow`` wheel on a machine without CUDA writes "Could not find cuda
drivers" and "failed call to cuInit" straight to file descriptor 2 while it
imports and first lists devices, before its own log level applies. We capture
fd 2 for exactly that window and replay every line that is not known noise.
"""

from __future__ import annotations

import contextlib
import os
import platform
import re
import sys
import tempfile
from pathlib import Path

from dlcli.errors import DeviceError
from dlcli.log import note

NOISE = re.compile(
    r"All log messages before absl::InitializeLog|oneDNN custom operations are on"
    r"|Could not find cuda drivers|failed call to cuInit|cudart_stub\.cc"
    r"|Unable to register cu(DNN|FFT|BLAS) factory|computation placer already registered"
    r"|TF-TRT Warning|This TensorFlow binary is optimized to use available CPU"
    r"|rebuild TensorFlow with the appropriate compiler flags"
)


@contextlib.contextmanager
def filtered_stderr():
    """Capture native writes to fd 2 and replay all but the known start-up noise."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield
        return
    with tempfile.TemporaryFile(mode="w+b") as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            with contextlib.suppress(Exception):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            for line in capture.read().decode("utf-8", "replace").splitlines():
                if line.strip() and not NOISE.search(line):
                    note(line)


def prepare_environment(device: str = "auto") -> None:
    """Set what TensorFlow reads at start-up: quiet logs, GPU memory growth, and no GPUs for ``cpu``.

    Called before anything may import TensorFlow (a Keras dataset download imports it too).
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")
    if device == "cpu" and "tensorflow" not in sys.modules:
        os.environ["CUDA_VISIBLE_DEVICES"] = "-1"


def import_tensorflow(device: str = "auto", *, cpu_devices: int = 1):
    """Import TensorFlow for ``device`` (auto | cpu | gpu) and return the module.

    ``cpu`` hides GPUs before TensorFlow initializes; ``gpu`` raises DeviceError
    when none is visible, saying why that may be. ``cpu_devices`` > 1 splits
    the CPU into that many logical devices (for a mirrored strategy without
    GPUs), which must happen before TensorFlow initializes its devices.
    """
    already = "tensorflow" in sys.modules
    prepare_environment(device)
    with contextlib.nullcontext() if already else filtered_stderr():
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
    if cpu_devices > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        try:
            tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * cpu_devices)
        except RuntimeError:  # already initialized in this process: keep what it has
            pass
    if device == "cpu" and gpus:
        with contextlib.suppress(RuntimeError):
            tf.config.set_visible_devices([], "GPU")
        gpus = []
    if device == "gpu" and not gpus:
        raise DeviceError(f"--device gpu: no GPU is visible to TensorFlow; {gpu_hint(tf)}; or use --device cpu")
    for gpu in gpus:
        with contextlib.suppress(RuntimeError, ValueError):
            tf.config.experimental.set_memory_growth(gpu, True)
    return tf


def gpu_hint(tf) -> str:
    """The likeliest reason no GPU is visible."""
    if not tf.test.is_built_with_cuda():
        return "this TensorFlow was built without CUDA (tensorflow-cpu?); install tensorflow[and-cuda]"
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1"):
        return f"CUDA_VISIBLE_DEVICES={visible!r} hides every GPU"
    in_container = Path("/.dockerenv").exists() or Path("/run/.containerenv").exists()
    if not Path("/proc/driver/nvidia/version").exists():
        if in_container:
            return (
                "no NVIDIA driver inside this container; start it with docker run --gpus all (NVIDIA Container Toolkit)"
            )
        return "no NVIDIA driver is loaded on this machine (no GPU, or the driver is not installed)"
    if not list(Path("/dev").glob("nvidia[0-9]*")):
        return "the NVIDIA driver is loaded but no /dev/nvidiaN device is visible here (container without --gpus?)"
    return (
        "the NVIDIA driver is loaded but TensorFlow found no usable GPU: check that the driver supports "
        "CUDA {cuda} (nvidia-smi) and that cuDNN {cudnn} libraries are installed (pip tensorflow[and-cuda])"
    ).format(**{k: dict(tf.sysconfig.get_build_info()).get(f"{k}_version", "?") for k in ("cuda", "cudnn")})


# The x86 vector extensions TensorFlow's CPU kernels (Eigen, oneDNN) choose between at run time: two CPUs that
# differ here sum in another order, so float32 results differ in their last bits.
SIMD_FLAGS = (
    "sse4_1",
    "sse4_2",
    "avx",
    "avx2",
    "fma",
    "avx512f",
    "avx512_vnni",
    "avx512_bf16",
    "amx_tile",
    "neon",
    "asimd",
)


def cpu_facts() -> dict:
    """The CPU model, the vector instructions it offers TensorFlow, and whether oneDNN's kernels are on."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:  # not Linux
        text = ""
    found: dict[str, str] = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        found.setdefault(key.strip().lower(), value.strip())  # the first core's line; all cores are alike
    model = found.get("model name") or found.get("hardware") or platform.processor() or platform.machine()
    flags = set((found.get("flags") or found.get("features") or "").split())
    onednn = os.environ.get("TF_ENABLE_ONEDNN_OPTS", "").strip()
    return {
        "cpu": model,
        "cpu_count": os.cpu_count(),
        "cpu_instructions": [f for f in SIMD_FLAGS if f in flags],
        # TensorFlow turns oneDNN on by default on x86 Linux; TF_ENABLE_ONEDNN_OPTS=0 turns it off
        "onednn": onednn not in ("0", "false", "False") if platform.machine() in ("x86_64", "AMD64") else onednn == "1",
    }


def describe(tf) -> dict:
    """Devices, CPU and build facts for environment.json and ``dlcli info``."""
    build = dict(tf.sysconfig.get_build_info())
    return {
        **cpu_facts(),
        "physical_devices": [f"{d.name} ({d.device_type})" for d in tf.config.list_physical_devices()],
        "logical_devices": [d.name for d in tf.config.list_logical_devices()],
        "gpus": [d.name for d in tf.config.list_physical_devices("GPU")],
        "built_with_cuda": bool(tf.test.is_built_with_cuda()),
        "cuda_version": build.get("cuda_version"),
        "cudnn_version": build.get("cudnn_version"),
        "cuda_compute_capabilities": build.get("cuda_compute_capabilities"),
    }
