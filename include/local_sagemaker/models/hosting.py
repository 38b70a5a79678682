"""Models, endpoint configurations and endpoints: the hosting half of SageMaker."""

from __future__ import annotations

from typing import Any

from ..exceptions import ValidationException
from .base import SpecResource, arn, now


class Model(SpecResource):
    kind = "model"

    def __init__(self, region: str, spec: dict[str, Any]) -> None:
        if not spec.get("PrimaryContainer") and not spec.get("Containers"):
            raise ValidationException("CreateModel: specify PrimaryContainer or Containers.")
        if spec.get("PrimaryContainer") and spec.get("Containers"):
            raise ValidationException("CreateModel: specify either PrimaryContainer or Containers, not both.")
        self.region = region
        self.spec = spec
        self.name: str = spec["ModelName"]
        self.arn = arn(region, "model", self.name)
        self.created = now()

    @property
    def container(self) -> dict[str, Any]:
        return self.spec.get("PrimaryContainer") or self.spec["Containers"][0]

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            key: self.spec[key]
            for key in (
                "PrimaryContainer",
                "Containers",
                "InferenceExecutionConfig",
                "ExecutionRoleArn",
                "VpcConfig",
            )
            if key in self.spec
        }
        out.update(
            ModelName=self.name,
            ModelArn=self.arn,
            CreationTime=self.created,
            EnableNetworkIsolation=self.spec.get("EnableNetworkIsolation", False),
        )
        return out

    def summary(self) -> dict[str, Any]:
        return {"ModelName": self.name, "ModelArn": self.arn, "CreationTime": self.created}


class EndpointConfig(SpecResource):
    kind = "endpoint-config"

    def __init__(self, region: str, spec: dict[str, Any]) -> None:
        names = [v["VariantName"] for v in spec["ProductionVariants"]]
        if len(set(names)) != len(names):
            raise ValidationException(f"ProductionVariants: variant names must be unique, got {names}")
        for i, variant in enumerate(spec["ProductionVariants"], start=1):
            if not variant.get("ModelName"):
                raise ValidationException(f"ProductionVariants.{i}.ModelName is required.")
        self.region = region
        self.spec = spec
        self.name: str = spec["EndpointConfigName"]
        self.arn = arn(region, "endpoint-config", self.name)
        self.created = now()

    @property
    def variants(self) -> list[dict[str, Any]]:
        return self.spec["ProductionVariants"]

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            key: self.spec[key]
            for key in ("DataCaptureConfig", "KmsKeyId", "AsyncInferenceConfig", "ExecutionRoleArn")
            if key in self.spec
        }
        out.update(
            EndpointConfigName=self.name,
            EndpointConfigArn=self.arn,
            ProductionVariants=self.variants,
            CreationTime=self.created,
        )
        return out

    def summary(self) -> dict[str, Any]:
        return {"EndpointConfigName": self.name, "EndpointConfigArn": self.arn, "CreationTime": self.created}


class Endpoint:
    """An endpoint serves one endpoint configuration; during an update, the next one waits in `pending`."""

    kind = "endpoint"

    def __init__(self, region: str, name: str, config_name: str) -> None:
        self.region = region
        self.name = name
        self.arn = arn(region, "endpoint", name)
        self.config_name = config_name
        self.pending_config: str | None = None
        self.status = "Creating"
        self.failure_reason: str | None = None
        self.created = now()
        self.modified = self.created
        # variant name -> {"weight", "instances", "image", "resolved_at"}: what is deployed now.
        self.variants: dict[str, dict[str, Any]] = {}

    def set_status(self, status: str, reason: str | None = None) -> None:
        self.status = status
        self.failure_reason = reason
        self.modified = now()

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "EndpointName": self.name,
            "EndpointArn": self.arn,
            "EndpointConfigName": self.config_name,
            "EndpointStatus": self.status,
            "CreationTime": self.created,
            "LastModifiedTime": self.modified,
        }
        if self.variants:
            out["ProductionVariants"] = [
                {
                    "VariantName": name,
                    "DeployedImages": [
                        {
                            "SpecifiedImage": v["image"],
                            "ResolvedImage": v["image"],
                            "ResolutionTime": v["resolved_at"],
                        }
                    ],
                    "CurrentWeight": v["weight"],
                    "DesiredWeight": v["weight"],
                    "CurrentInstanceCount": v["instances"],
                    "DesiredInstanceCount": v["instances"],
                }
                for name, v in self.variants.items()
            ]
        if self.failure_reason:
            out["FailureReason"] = self.failure_reason
        return out

    def summary(self) -> dict[str, Any]:
        return {
            "EndpointName": self.name,
            "EndpointArn": self.arn,
            "CreationTime": self.created,
            "LastModifiedTime": self.modified,
            "EndpointStatus": self.status,
        }

    _STATE = "config_name pending_config status failure_reason created modified variants".split()

    def record(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in self._STATE}

    @classmethod
    def from_record(cls, region: str, name: str, body: dict[str, Any]) -> Endpoint:
        endpoint = cls(region, name, body["config_name"])
        for key in cls._STATE:
            if key in body:
                setattr(endpoint, key, body[key])
        return endpoint


def weight_of(variant: dict[str, Any]) -> float:
    return float(variant.get("InitialVariantWeight", 1.0))


def instances_of(variant: dict[str, Any]) -> int:
    return int(variant.get("InitialInstanceCount", 1))
