"""``source: synthetic``: TensorFlow-Playground-style problems made on the spot, for tutorials and tests."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field, field_validator

from dlcli.data import target
from dlcli.data.base import Probe, RawData
from dlcli.data.sources.base import SourceConfig, known_name

NAME = "synthetic"
EXTENSIONS: tuple[str, ...] = ()
# name -> (features, task, classes)
DATASETS = {
    "xor": (2, "binary", 2),
    "circles": (2, "binary", 2),
    "moons": (2, "binary", 2),
    "spiral": (2, "binary", 2),
    "blobs": (2, "multiclass", 3),
    "linear": (2, "regression", None),
}
DEFAULT_SAMPLES = 1000
DEFAULT_NOISE = 0.1


class SyntheticConfig(SourceConfig):
    source: Literal["synthetic"] = "synthetic"
    name: str = Field(description="Problem: " + ", ".join(DATASETS) + ".", examples=["xor"])
    n_samples: int = Field(DEFAULT_SAMPLES, gt=0, le=10_000_000, description="Rows to make.")
    noise: float = Field(DEFAULT_NOISE, ge=0, description="Noise added to the features.")
    seed: int | None = Field(None, ge=0, description="Seed for generating the data; default: the run's seed.")

    _known = field_validator("name")(classmethod(lambda cls, v: known_name(NAME, v, DATASETS)))


CONFIG = SyntheticConfig


def probe(config) -> Probe:
    features, task, classes = DATASETS[config.data.name]
    spread = target.spread(read(config).y) if task == "regression" else None  # made in milliseconds
    return Probe(
        input_shape=(features,), task=task, n_classes=classes, rows=config.data.n_samples, target_spread=spread
    )


def generate(name: str, n: int, noise: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) for one problem; the same arguments always give the same arrays."""
    if name in ("circles", "moons", "blobs"):
        import sklearn.datasets as skd  # a second to import: only for the problems it makes (validate probes linear)

    rng = np.random.default_rng(seed)
    if name == "xor":
        x = rng.uniform(-1, 1, size=(n, 2))
        y = (x[:, 0] * x[:, 1] > 0).astype(np.int64)
        x = x + rng.normal(0, noise, size=x.shape)
    elif name == "circles":
        x, y = skd.make_circles(n_samples=n, noise=noise, factor=0.5, random_state=seed)
    elif name == "moons":
        x, y = skd.make_moons(n_samples=n, noise=noise, random_state=seed)
    elif name == "spiral":
        y = np.arange(n) % 2
        t = rng.uniform(0.25, 1.0, size=n) * 3 * np.pi
        angle = t + np.pi * y
        x = np.stack([t * np.cos(angle), t * np.sin(angle)], axis=1) / (3 * np.pi)
        x = x + rng.normal(0, noise, size=x.shape)
    elif name == "blobs":
        x, y = skd.make_blobs(n_samples=n, centers=3, cluster_std=1.0 + 10 * noise, random_state=seed)
    else:  # linear regression: y = 3 x0 - 2 x1 + 0.5 + noise
        x = rng.uniform(-1, 1, size=(n, 2))
        y = 3 * x[:, 0] - 2 * x[:, 1] + 0.5 + rng.normal(0, noise, size=n)
    return x.astype(np.float32), (y.astype(np.float32) if name == "linear" else y.astype(np.int64))


def read(config) -> RawData:
    data = config.data
    seed = config.seed if data.seed is None else data.seed
    x, y = generate(data.name, data.n_samples, data.noise, seed)
    return RawData(x=x, y=y, feature_names=["x0", "x1"], target_label=f"synthetic {data.name}")
