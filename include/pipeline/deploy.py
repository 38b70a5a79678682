"""Put a model behind an endpoint, prove it answers sensibly, and go back if it does not.

`deploy_model` is safe to retry: the model and endpoint config names are the run's deterministic names, an
existing one is reused, and an endpoint already on this run's config is left alone. The config in use before
(needed to roll back) is recorded as a tag on the new config, so a retried task still knows it. The old
config stays until `smoke_test` passes; `retire` then deletes it. `rollback` updates the endpoint back to it
(blue/green, as SageMaker does), or deletes the endpoint if this was its first model.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from botocore.exceptions import ClientError

PREVIOUS_CONFIG_TAG = "hpo:previous-endpoint-config"
NO_PREVIOUS = "-"  # the tag value of a first deployment, which has no config to go back to
SETTLING = {"Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting"}


@dataclass(frozen=True)
class Deployment:
    """What deploy_model did: the endpoint, the config it now serves, the one to roll back to, and how.

    `record_key` and `expected_score` tie it to the champion-history record of the model and the score the
    evaluation measured, which the smoke test must see again.
    """

    endpoint: str
    endpoint_config: str
    model: str
    previous_config: str | None
    action: str  # created, updated or unchanged
    record_key: str | None = None
    expected_score: float | None = None

    def to_xcom(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_xcom(cls, values: dict[str, Any]) -> Deployment:
        return cls(**values)


class DeploymentError(RuntimeError):
    """The endpoint did not end up InService on the new config; the message has SageMaker's reason."""


class SmokeTestError(RuntimeError):
    """The endpoint answered, but not with what a delay model must answer."""


def _missing(error: ClientError) -> bool:
    # SageMaker answers Describe{Model,EndpointConfig,Endpoint} of a missing name with ValidationException.
    return error.response["Error"]["Code"] == "ValidationException" and "Could not find" in str(error)


def _describe(call: Any, **name: str) -> dict[str, Any] | None:
    try:
        return call(**name)
    except ClientError as error:
        if _missing(error):
            return None
        raise


def wait_for_endpoint(sm: Any, endpoint: str, *, poll: float = 5, timeout: float = 3600) -> dict[str, Any]:
    """Describe until the endpoint leaves Creating/Updating; return the last description."""
    deadline = time.monotonic() + timeout
    while True:
        described = sm.describe_endpoint(EndpointName=endpoint)
        if described["EndpointStatus"] not in SETTLING:
            return described
        if time.monotonic() > deadline:
            raise DeploymentError(f"endpoint {endpoint} still {described['EndpointStatus']} after {timeout:g}s")
        time.sleep(poll)


def deploy_model(
    sm: Any,
    *,
    endpoint: str,
    model_name: str,
    config_name: str,
    image: str,
    model_artifact: str,
    environment: dict[str, str],
    role_arn: str,
    instance_type: str = "ml.m5.large",
    tags: Sequence[dict[str, str]] = (),
    poll: float = 5,
    timeout: float = 3600,
) -> Deployment:
    """Create (or reuse) the model and endpoint config, then create or update the endpoint and wait."""
    current = _describe(sm.describe_endpoint, EndpointName=endpoint)
    if current is not None and current["EndpointStatus"] in SETTLING:
        current = wait_for_endpoint(sm, endpoint, poll=poll, timeout=timeout)
    if _describe(sm.describe_model, ModelName=model_name) is None:
        sm.create_model(
            ModelName=model_name,
            ExecutionRoleArn=role_arn,
            PrimaryContainer={
                "Image": image,
                "ModelDataUrl": model_artifact,
                "Environment": environment,
            },
            Tags=list(tags),
        )
    config = _describe(sm.describe_endpoint_config, EndpointConfigName=config_name)
    if config is None:
        previous = current["EndpointConfigName"] if current else None
        sm.create_endpoint_config(
            EndpointConfigName=config_name,
            ProductionVariants=[
                {
                    "VariantName": "AllTraffic",
                    "ModelName": model_name,
                    "InitialInstanceCount": 1,
                    "InstanceType": instance_type,
                }
            ],
            Tags=[*tags, {"Key": PREVIOUS_CONFIG_TAG, "Value": previous or NO_PREVIOUS}],
        )
    else:
        previous = _previous_config(sm, config["EndpointConfigArn"])

    if current is None:
        sm.create_endpoint(EndpointName=endpoint, EndpointConfigName=config_name, Tags=list(tags))
        action = "created"
    elif current["EndpointConfigName"] == config_name and current["EndpointStatus"] == "InService":
        action = "unchanged"  # a retry after a successful deploy
    else:
        # Tags live on the endpoint and survive UpdateEndpoint, so they are not passed again.
        sm.update_endpoint(EndpointName=endpoint, EndpointConfigName=config_name)
        action = "updated"
    described = wait_for_endpoint(sm, endpoint, poll=poll, timeout=timeout)
    if described["EndpointStatus"] != "InService" or described["EndpointConfigName"] != config_name:
        raise DeploymentError(
            f"endpoint {endpoint} is {described['EndpointStatus']} on {described['EndpointConfigName']}, not on "
            f"{config_name}: {described.get('FailureReason', 'no reason given')}"
        )
    return Deployment(endpoint, config_name, model_name, previous, action)


def _previous_config(sm: Any, config_arn: str) -> str | None:
    tags = {t["Key"]: t["Value"] for t in sm.list_tags(ResourceArn=config_arn)["Tags"]}
    value = tags.get(PREVIOUS_CONFIG_TAG, NO_PREVIOUS)
    return None if value == NO_PREVIOUS else value


def serving_environment(code_uri: str | None, entry_point: str | None) -> dict[str, str]:
    """Script mode serves with the training script's model_fn/input_fn/predict_fn/output_fn; the built-in
    algorithm (no code) with the container's own."""
    if code_uri is None:
        return {}
    return {"SAGEMAKER_PROGRAM": entry_point or "train.py", "SAGEMAKER_SUBMIT_DIRECTORY": code_uri}


def check_endpoint(
    runtime: Any,
    endpoint: str,
    features_csv: str,
    labels: Sequence[float],
    metric: str,
    threshold: float,
    expected: float | None = None,
) -> dict[str, Any]:
    """Invoke the endpoint with held-out rows: one prediction per row, the metric at least as good as threshold.

    Binary models must answer probabilities in [0, 1], others finite numbers. With `expected` (the offline
    evaluation of the same rows) the endpoint's score must match it: otherwise it serves something other than
    the model that was evaluated.
    """
    from .scoring import METRICS, check_predictions, score

    measure = METRICS[metric]
    answer = runtime.invoke_endpoint(
        EndpointName=endpoint, ContentType="text/csv", Accept="text/csv", Body=features_csv
    )
    text = answer["Body"].read().decode("utf-8", errors="replace")
    try:
        predictions = [float(value) for value in text.replace(",", "\n").split()]
    except ValueError:
        raise SmokeTestError(f"endpoint {endpoint} answered something other than numbers: {text[:200]!r}") from None
    if len(predictions) != len(labels):
        raise SmokeTestError(f"endpoint {endpoint} returned {len(predictions)} predictions for {len(labels)} rows")
    try:
        check_predictions(measure.label, predictions, len(labels))
    except ValueError as error:
        raise SmokeTestError(f"endpoint {endpoint}: {error}") from None
    try:
        scored = score(list(labels), predictions, (metric,))
    except ValueError as error:  # e.g. held-out rows of one class: no AUC to check
        raise SmokeTestError(f"cannot score endpoint {endpoint} on the held-out rows: {error}") from None
    value = scored[metric]
    if not measure.better(value, threshold):
        side = "below" if measure.maximize else "above"
        raise SmokeTestError(f"endpoint {endpoint} scores {metric} {value:.4f} on held-out rows, {side} {threshold}")
    # Endpoints answer in text, offline scoring in float64: allow for the rounding, relative to the metric's size.
    if expected is not None and abs(value - expected) > 1e-3 * max(1.0, abs(expected)):
        raise SmokeTestError(
            f"endpoint {endpoint} scores {metric} {value:.4f} where the evaluated model scored {expected:.4f}"
        )
    return {**scored, "score": value}


def rollback(sm: Any, deployed: Deployment, *, poll: float = 5, timeout: float = 3600) -> str:
    """Undo deploy_model: back to the previous config, or no endpoint if there was none. Returns what it did."""
    endpoint, previous = deployed.endpoint, deployed.previous_config
    if previous is None:
        sm.delete_endpoint(EndpointName=endpoint)
        done = f"deleted endpoint {endpoint}, which had no earlier model to go back to"
    else:
        sm.update_endpoint(EndpointName=endpoint, EndpointConfigName=previous)
        described = wait_for_endpoint(sm, endpoint, poll=poll, timeout=timeout)
        if described["EndpointStatus"] != "InService" or described["EndpointConfigName"] != previous:
            raise DeploymentError(
                f"rollback of {endpoint} to {previous} failed: {described['EndpointStatus']} on "
                f"{described['EndpointConfigName']} ({described.get('FailureReason', 'no reason given')})"
            )
        done = f"rolled endpoint {endpoint} back to {previous}"
    sm.delete_endpoint_config(EndpointConfigName=deployed.endpoint_config)
    return done


def retire(sm: Any, deployed: Deployment) -> str | None:
    """Delete the endpoint config the endpoint no longer uses (models stay: the champion history names them)."""
    previous = deployed.previous_config
    if previous is None or previous == deployed.endpoint_config:
        return None
    if _describe(sm.describe_endpoint_config, EndpointConfigName=previous) is not None:
        sm.delete_endpoint_config(EndpointConfigName=previous)
    return previous
