"""An endpoint's deployment reports back from its own thread; the backend in-process, over a stub deployment."""

from __future__ import annotations

import threading

import pytest

from harness.local_sagemaker import (
    ROLE,
    XGBOOST_IMAGE,
)


@pytest.mark.parametrize("outcome", ["fails", "succeeds"])
def test_an_endpoint_deleted_while_creating_stays_deleted_whatever_its_deployment_does(tmp_path, outcome):
    """A deployment reports back from its own thread; if the endpoint was deleted meanwhile, nothing is stored."""
    from types import SimpleNamespace

    from include.local_sagemaker.models.backend import SageMakerBackend
    from include.local_sagemaker.models.store import StateStore
    from include.local_sagemaker.serving.manager import DeploymentFailed, EndpointManager

    release = threading.Event()
    stopped = []

    class Manager(EndpointManager):
        def _launch(self, backend, endpoint, config):
            release.wait(10)
            if outcome == "fails":
                raise DeploymentFailed("the model's container exited")
            return SimpleNamespace(stop=stopped.append)

    manager = Manager(tmp_path / "endpoints", clients=lambda *_: None)
    store = StateStore(tmp_path / "state.sqlite3")
    backend = SageMakerBackend("us-east-1", store, SimpleNamespace(deploy=manager.deploy, undeploy=manager.undeploy))
    backend.create_model({"ModelName": "m", "PrimaryContainer": {"Image": XGBOOST_IMAGE}, "ExecutionRoleArn": ROLE})
    variant = {"VariantName": "AllTraffic", "ModelName": "m", "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}
    backend.create_endpoint_config({"EndpointConfigName": "c", "ProductionVariants": [variant]})
    backend.create_endpoint({"EndpointName": "e", "EndpointConfigName": "c"})
    assert [name for _, name, _ in store.load("endpoint")] == ["e"]

    backend.delete_endpoint({"EndpointName": "e"})
    release.set()
    for thread in threading.enumerate():
        if thread.name == "deploy-e":
            thread.join(10)

    assert list(store.load("endpoint")) == [], "the deleted endpoint was written back by its deployment"
    assert "e" not in backend.endpoints
    assert stopped == ([0] if outcome == "succeeds" else [])  # a deployment that came up anyway is stopped
