"""deploy/tfjob.yaml: a ConfigMap and a Kubeflow TFJob that the training operator and dlcli both accept.

Structural checks only (offline, no Kubernetes schema package).
"""

from __future__ import annotations

from pathlib import PurePosixPath

import pytest
import yaml

from tests.conftest import ROOT, invoke

TFJOB = ROOT / "deploy" / "tfjob.yaml"


@pytest.fixture(scope="module")
def documents() -> dict:
    docs = [d for d in yaml.safe_load_all(TFJOB.read_text()) if d is not None]
    assert [d.get("kind") for d in docs] == ["ConfigMap", "TFJob"]
    return {d["kind"]: d for d in docs}


@pytest.fixture(scope="module")
def config_map(documents) -> dict:
    doc = documents["ConfigMap"]
    assert doc["apiVersion"] == "v1"
    assert doc["metadata"]["name"]
    assert isinstance(doc["data"], dict) and doc["data"]
    return doc


@pytest.fixture(scope="module")
def tfjob(documents) -> dict:
    doc = documents["TFJob"]
    assert doc["apiVersion"] == "kubeflow.org/v1"
    assert doc["metadata"]["name"]
    return doc


@pytest.fixture(scope="module")
def worker(tfjob) -> dict:
    return tfjob["spec"]["tfReplicaSpecs"]["Worker"]


@pytest.fixture(scope="module")
def pod(worker) -> dict:
    return worker["template"]["spec"]


@pytest.fixture(scope="module")
def container(pod) -> dict:
    [only] = pod["containers"]
    return only


def mounts(container) -> dict:
    return {m["name"]: m for m in container["volumeMounts"]}


def volumes(pod) -> dict:
    return {v["name"]: v for v in pod["volumes"]}


def config_file(config_map, pod, container) -> tuple[str, str]:
    """(path in the container, key in the ConfigMap) of the config the container trains."""
    [(name, volume)] = [(n, v) for n, v in volumes(pod).items() if "configMap" in v]
    assert volume["configMap"]["name"] == config_map["metadata"]["name"]
    [key] = config_map["data"]
    return str(PurePosixPath(mounts(container)[name]["mountPath"]) / key), key


def test_at_least_two_workers_and_only_workers(tfjob, worker):
    assert set(tfjob["spec"]["tfReplicaSpecs"]) == {"Worker"}  # worker 0 is the chief
    assert isinstance(worker["replicas"], int) and worker["replicas"] >= 2


def test_container_is_named_tensorflow(container):
    assert container["name"] == "tensorflow"  # the training operator finds its container by this name


def test_args_train_the_mounted_config(config_map, pod, container):
    args = container["args"]
    assert all(isinstance(a, str) for a in args)
    assert args[0] == "train"
    path, _key = config_file(config_map, pod, container)
    assert args[1] == path
    assert mounts(container)[[n for n, v in volumes(pod).items() if "configMap" in v][0]].get("readOnly") is True


def test_runs_volume_is_mounted_and_is_the_output_dir(pod, container):
    args = container["args"]
    assert "--output-dir" in args
    output_dir = args[args.index("--output-dir") + 1]
    by_path = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert output_dir == "/runs"
    assert "/runs" in by_path
    mount = by_path["/runs"]
    assert not mount.get("readOnly", False)
    volume = volumes(pod)[mount["name"]]
    assert "persistentVolumeClaim" in volume  # outlives the pods
    assert volume["persistentVolumeClaim"]["claimName"]


def test_configmap_config_validates_and_is_multi_worker(config_map, tmp_path):
    from dlcli.config.load import load_config

    [(key, text)] = config_map["data"].items()
    path = tmp_path / key
    path.write_text(text)
    result = invoke("validate", path)
    assert result.exit_code == 0, result.output
    config = load_config(path)
    assert config.training.distribution == "multi_worker"
    assert config.training.device in ("auto", "gpu")


def test_pod_runs_as_non_root(pod, container):
    context = {**pod.get("securityContext", {}), **container.get("securityContext", {})}
    assert context.get("runAsNonRoot") is True
    assert context.get("runAsUser", 1000) != 0


def test_image_is_pinned(container):
    image = container["image"]
    assert "@sha256:" in image or ":" in image.rsplit("/", 1)[-1], image
    tag = image.rsplit("/", 1)[-1].partition(":")[2]
    assert tag and tag != "latest", image


def test_resources_requested_and_limited(container):
    resources = container["resources"]
    assert resources["requests"].get("cpu") and resources["requests"].get("memory")
    assert resources["limits"].get("memory")


def test_no_tf_config_in_the_manifest(container):
    """The operator sets TF_CONFIG per pod; a fixed one in the manifest would give every pod the same task."""
    assert "TF_CONFIG" not in {e["name"] for e in container.get("env", [])}
