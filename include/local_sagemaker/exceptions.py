"""SageMaker's error codes as exceptions. The code is the botocore error shape name; the gateway serializes."""

from __future__ import annotations


class SageMakerError(Exception):
    code = "InternalFailure"
    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ValidationException(SageMakerError):
    code = "ValidationException"
    status = 400


class ResourceNotFound(SageMakerError):
    code = "ResourceNotFound"
    status = 400


class ResourceInUse(SageMakerError):
    code = "ResourceInUse"
    status = 400


class ResourceLimitExceeded(SageMakerError):
    code = "ResourceLimitExceeded"
    status = 400


class UnknownOperation(SageMakerError):
    code = "UnknownOperationException"
    status = 400


class ModelError(SageMakerError):
    """sagemaker-runtime: the model's container answered InvokeEndpoint with an error."""

    code = "ModelError"
    status = 424


def could_not_find(kind: str, arn: str) -> ValidationException:
    """AWS answers Describe* of a missing training job, model or endpoint this way, not with ResourceNotFound."""
    return ValidationException(f'Could not find {kind} "{arn}".')
