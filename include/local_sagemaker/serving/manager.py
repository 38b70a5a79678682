"""Deploys endpoint configurations as loopback processes and routes InvokeEndpoint to them.

Deployments are blue/green: a new configuration's processes must answer /ping before the routing table
switches to them, and the old processes stop only after their in-flight requests finished. So an
invocation never fails because of an UpdateEndpoint.
"""

from __future__ import annotations

import logging
import random
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from include.archives import safe_extract

from .. import DEFAULT_ACCOUNT_ID
from ..algorithms import SHARED_CORES_ENVIRONMENT, runs_script
from ..exceptions import ModelError, ValidationException
from ..models.backend import SageMakerBackend
from ..models.base import now
from ..models.hosting import Endpoint, EndpointConfig, instances_of, weight_of
from ..s3io import download_file

log = logging.getLogger(__name__)

WORKER = Path(__file__).with_name("worker.py")
STARTUP_TIMEOUT = 60.0
INVOKE_TIMEOUT = 60.0


class DeploymentFailed(Exception):
    pass


@dataclass
class Instance:
    process: subprocess.Popen
    port: int


@dataclass
class Variant:
    name: str
    weight: float
    instances: list[Instance]
    next: int = 0


@dataclass
class Deployment:
    directory: Path
    variants: dict[str, Variant]
    in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def stop(self, drain_seconds: float = 10.0) -> None:
        deadline = time.monotonic() + drain_seconds
        while self.in_flight and time.monotonic() < deadline:
            time.sleep(0.05)
        for variant in self.variants.values():
            for instance in variant.instances:
                instance.process.terminate()
        for variant in self.variants.values():
            for instance in variant.instances:
                try:
                    instance.process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    instance.process.kill()
        shutil.rmtree(self.directory, ignore_errors=True)


class EndpointManager:
    def __init__(self, endpoints_dir: Path, clients: Callable[[str, str], Any]) -> None:
        self.endpoints_dir = endpoints_dir
        self.clients = clients
        self._routes: dict[tuple[str, str], Deployment] = {}
        self._changed = threading.Condition()

    # --- control plane -------------------------------------------------------------------------
    def deploy(self, backend: SageMakerBackend, endpoint: Endpoint, config: EndpointConfig) -> None:
        threading.Thread(
            target=self._deploy, args=(backend, endpoint, config), name=f"deploy-{endpoint.name}", daemon=True
        ).start()

    def _deploy(self, backend: SageMakerBackend, endpoint: Endpoint, config: EndpointConfig) -> None:
        key = (backend.region, endpoint.name)
        try:
            deployment = self._launch(backend, endpoint, config)
        except Exception as exc:
            reason = str(exc) if isinstance(exc, DeploymentFailed) else f"InternalFailure: {exc}"
            log.warning("endpoint %s: deployment of %s failed: %s", endpoint.name, config.name, reason)
            with backend.lock:
                if endpoint.status == "Updating":
                    # AWS rolls a failed update back: the old configuration keeps serving.
                    endpoint.pending_config = None
                    endpoint.set_status("InService", f"Update to {config.name} failed and was rolled back: {reason}")
                else:
                    endpoint.set_status("Failed", reason)
                backend.save(endpoint)
            return
        with backend.lock:
            if backend.endpoints.get(endpoint.name) is not endpoint:  # deleted while deploying
                deployment.stop(0)
                return
            with self._changed:
                old = self._routes.get(key)
                self._routes[key] = deployment
                self._changed.notify_all()
            endpoint.config_name = config.name
            endpoint.pending_config = None
            endpoint.variants = {
                v["VariantName"]: {
                    "weight": weight_of(v),
                    "instances": instances_of(v),
                    "image": backend.models[v["ModelName"]].container.get("Image", ""),
                    "resolved_at": now(),
                }
                for v in config.variants
            }
            endpoint.set_status("InService")
            backend.save(endpoint)
        if old is not None and old is not deployment:
            old.stop()

    def undeploy(self, endpoint: Endpoint) -> None:
        with self._changed:
            deployment = self._routes.pop((endpoint.region, endpoint.name), None)
        if deployment is not None:
            threading.Thread(target=deployment.stop, daemon=True).start()

    def shutdown(self) -> None:
        with self._changed:
            deployments, self._routes = list(self._routes.values()), {}
        for deployment in deployments:
            deployment.stop(0)

    def _launch(self, backend: SageMakerBackend, endpoint: Endpoint, config: EndpointConfig) -> Deployment:
        directory = self.endpoints_dir / backend.region / endpoint.name / uuid.uuid4().hex[:12]
        variants: dict[str, Variant] = {}
        deployment = Deployment(directory, variants)
        try:
            for spec in config.variants:
                model = backend.models.get(spec["ModelName"])
                if model is None:
                    raise DeploymentFailed(f"Model {spec['ModelName']!r} of variant {spec['VariantName']!r} is gone.")
                workdir = directory / spec["VariantName"]
                argv = self._prepare_model(backend.region, model.container, workdir)
                environment = model.container.get("Environment") or {}
                instances = []
                for i in range(instances_of(spec)):
                    instances.append(self._start_instance(argv, workdir, i, environment))
                variants[spec["VariantName"]] = Variant(spec["VariantName"], weight_of(spec), instances)
        except BaseException:
            deployment.stop(0)
            raise
        return deployment

    def _prepare_model(self, region: str, container: dict[str, Any], workdir: Path) -> list[str]:
        image = container.get("Image") or ""
        if not runs_script(image):
            raise DeploymentFailed(
                f"The local SageMaker cannot serve image {image!r}: it serves the SageMaker XGBoost images "
                "(built-in algorithm or script mode with SAGEMAKER_PROGRAM) and scikit-learn images in script mode."
            )
        s3 = self.clients("s3", region)
        model_dir, code_dir = workdir / "model", workdir / "code"
        model_dir.mkdir(parents=True, exist_ok=True)
        if container.get("ModelDataUrl"):
            archive = workdir / "model.tar.gz"
            try:
                download_file(s3, container["ModelDataUrl"], archive)
                safe_extract(archive, model_dir)
            except Exception as exc:
                raise DeploymentFailed(
                    f"Failed to extract model data archive {container['ModelDataUrl']}: {exc}"
                ) from exc
        env = container.get("Environment") or {}
        argv = [sys.executable, str(WORKER), "--model-dir", str(model_dir)]
        program = env.get("SAGEMAKER_PROGRAM")
        if program:
            submit = env.get("SAGEMAKER_SUBMIT_DIRECTORY", "")
            if submit.startswith("s3://"):
                archive = workdir / "sourcedir.tar.gz"
                try:
                    download_file(s3, submit, archive)
                    safe_extract(archive, code_dir)
                except Exception as exc:
                    raise DeploymentFailed(f"Failed to extract SAGEMAKER_SUBMIT_DIRECTORY {submit}: {exc}") from exc
            elif (model_dir / "code").is_dir():
                code_dir = model_dir / "code"
            else:
                raise DeploymentFailed(
                    f"SAGEMAKER_PROGRAM {program!r} needs SAGEMAKER_SUBMIT_DIRECTORY (s3:// tar.gz) or a code/ "
                    "directory in the model archive."
                )
            argv += ["--code-dir", str(code_dir), "--program", program]
        return argv

    def _start_instance(self, argv: list[str], workdir: Path, index: int, environment: dict[str, str]) -> Instance:
        """One instance's worker process. Its environment is the container's `Environment`, as in SageMaker's
        serving container, over this service's own (credentials left out) and SHARED_CORES_ENVIRONMENT."""
        import os

        port_file = workdir / f"instance-{index}.port"
        log_file = open(workdir / f"instance-{index}.log", "ab")  # noqa: SIM115 - owned by the child
        process = subprocess.Popen(
            [*argv, "--port-file", str(port_file), "--parent-pid", str(os.getpid())],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=workdir,
            env={k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
            | {"PYTHONUNBUFFERED": "1", **SHARED_CORES_ENVIRONMENT}
            | environment,
        )
        log_file.close()
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if process.poll() is not None:
                tail = (workdir / f"instance-{index}.log").read_text(errors="replace").strip().splitlines()[-3:]
                raise DeploymentFailed(
                    f"The primary container for production variant failed the ping health check: "
                    f"exited with code {process.returncode}: {' | '.join(tail)}"
                )
            if port_file.is_file():
                port = int(port_file.read_text())
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2) as reply:  # noqa: S310
                        if reply.status == 200:
                            return Instance(process, port)
                except (urllib.error.URLError, OSError):
                    pass
            time.sleep(0.05)
        process.kill()
        raise DeploymentFailed(f"The inference process did not pass the ping health check in {STARTUP_TIMEOUT:.0f}s.")

    # --- data plane ----------------------------------------------------------------------------
    def invoke(
        self,
        backend: SageMakerBackend,
        name: str,
        body: bytes,
        content_type: str,
        accept: str,
        target_variant: str | None = None,
    ) -> tuple[bytes, str, str]:
        key = (backend.region, name)
        with backend.lock:
            endpoint = backend.endpoints.get(name)
        if endpoint is None:
            raise ValidationException(f"Endpoint {name} of account {DEFAULT_ACCOUNT_ID} not found.")
        deadline = time.monotonic() + 30
        with self._changed:
            # Right after a restart an InService endpoint's processes may still be starting: wait for them.
            while key not in self._routes and endpoint.status in ("InService", "Updating", "Creating"):
                if endpoint.status == "Creating" or not self._changed.wait(max(0.0, deadline - time.monotonic())):
                    break
            deployment = self._routes.get(key)
            if deployment is None:
                raise ValidationException(f"Endpoint {name} of account {DEFAULT_ACCOUNT_ID} is not in service.")
            with deployment.lock:
                deployment.in_flight += 1
        try:
            variant = self._choose(deployment, target_variant, name)
            instance = variant.instances[variant.next % len(variant.instances)]
            variant.next += 1
            request = urllib.request.Request(  # noqa: S310 - loopback only
                f"http://127.0.0.1:{instance.port}/invocations",
                data=body,
                headers={"Content-Type": content_type or "text/csv", "Accept": accept or "text/csv"},
                method="POST",
            )
            try:
                with urllib.request.urlopen(request, timeout=INVOKE_TIMEOUT) as reply:  # noqa: S310
                    return reply.read(), reply.headers.get("Content-Type", accept), variant.name
            except urllib.error.HTTPError as exc:
                message = exc.read().decode(errors="replace")
                raise ModelError(
                    f'Received client error ({exc.code}) from primary with message "{message}". '
                    f"See the inference process log of endpoint {name} for more information."
                ) from exc
        finally:
            with deployment.lock:
                deployment.in_flight -= 1

    @staticmethod
    def _choose(deployment: Deployment, target: str | None, name: str) -> Variant:
        if target:
            if target not in deployment.variants:
                raise ValidationException(f"Variant {target} not found for endpoint {name}.")
            return deployment.variants[target]
        variants = list(deployment.variants.values())
        weights = [v.weight for v in variants]
        if sum(weights) <= 0:
            return variants[0]
        return random.choices(variants, weights=weights)[0]
