"""Request validation against botocore's SageMaker service model, with AWS's error wording.

AWS reports constraint violations as one ValidationException listing each failure with the member's
path, e.g. "1 validation error detected: Value 'bad_name' at 'trainingJobName' failed to satisfy
constraint: Member must satisfy regular expression pattern: ...". We walk the input shape the same way.
"""

from __future__ import annotations

import functools
import re
from datetime import datetime
from typing import Any

import botocore.session
from botocore.model import OperationModel, ServiceModel, Shape

from .exceptions import ValidationException


@functools.cache
def service_model(name: str = "sagemaker") -> ServiceModel:
    return botocore.session.get_session().get_service_model(name)


def operation_model(operation: str, service: str = "sagemaker") -> OperationModel:
    return service_model(service).operation_model(operation)


@functools.cache
def _compiled(pattern: str) -> re.Pattern[str] | None:
    # A few model patterns use Java-only syntax (\p{...}); those we cannot check, so we do not pretend to.
    try:
        return re.compile(pattern, re.DOTALL)
    except re.error:
        return None


def _lower_first(name: str) -> str:
    return name[:1].lower() + name[1:]


def _show(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 100 else text[:97] + "..."


def _check(shape: Shape, value: Any, path: str, errors: list[str]) -> None:
    kind = shape.type_name
    meta = shape.metadata
    if kind == "structure":
        if not isinstance(value, dict):
            errors.append(f"Value at '{path}' failed to satisfy constraint: Member must be a structure")
            return
        for name in shape.required_members:
            if value.get(name) is None:
                child = f"{path}.{_lower_first(name)}" if path else _lower_first(name)
                errors.append(f"Value null at '{child}' failed to satisfy constraint: Member must not be null")
        for name, item in value.items():
            child = f"{path}.{_lower_first(name)}" if path else _lower_first(name)
            if name not in shape.members:
                errors.append(f"Unknown member '{child}'")
            elif item is not None:
                _check(shape.members[name], item, child, errors)
    elif kind == "list":
        if not isinstance(value, list):
            errors.append(f"Value at '{path}' failed to satisfy constraint: Member must be a list")
            return
        _check_size(len(value), meta, value, path, errors, "length")
        for i, item in enumerate(value):
            _check(shape.member, item, f"{path}.{i + 1}.member", errors)
    elif kind == "map":
        if not isinstance(value, dict):
            errors.append(f"Value at '{path}' failed to satisfy constraint: Member must be a map")
            return
        _check_size(len(value), meta, value, path, errors, "length")
        for key, item in value.items():
            _check(shape.key, key, f"{path}.key", errors)
            _check(shape.value, item, f"{path}.{key}", errors)
    elif kind == "string":
        if not isinstance(value, str):
            errors.append(f"Value '{_show(value)}' at '{path}' failed to satisfy constraint: Member must be a string")
            return
        _check_size(len(value), meta, value, path, errors, "length")
        if shape.enum and value not in shape.enum:
            errors.append(
                f"Value '{_show(value)}' at '{path}' failed to satisfy constraint: "
                f"Member must satisfy enum value set: [{', '.join(shape.enum)}]"
            )
        pattern = meta.get("pattern")
        compiled = _compiled(pattern) if pattern else None
        # AWS matches the whole value (Java's Pattern.matches), anchored or not.
        if compiled is not None and not compiled.fullmatch(value):
            errors.append(
                f"Value '{_show(value)}' at '{path}' failed to satisfy constraint: "
                f"Member must satisfy regular expression pattern: {pattern}"
            )
    elif kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            errors.append(f"Value '{_show(value)}' at '{path}' failed to satisfy constraint: Member must be a number")
            return
        # AWS's Integer and Long are 32- and 64-bit: JSON carries bigger numbers, which the service must refuse.
        bits = 31 if kind == "integer" else 63
        _check_size(value, {"min": -(2**bits), "max": 2**bits - 1, **meta}, value, path, errors, "value")
    elif kind in ("float", "double"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            errors.append(f"Value '{_show(value)}' at '{path}' failed to satisfy constraint: Member must be a number")
            return
        _check_size(value, meta, value, path, errors, "value")
    elif kind == "boolean":
        if not isinstance(value, bool):
            errors.append(f"Value '{_show(value)}' at '{path}' failed to satisfy constraint: Member must be a boolean")
    elif kind == "timestamp":
        if not isinstance(value, (int, float, datetime)):
            errors.append(
                f"Value '{_show(value)}' at '{path}' failed to satisfy constraint: Member must be a timestamp"
            )


def _check_size(size: float, meta: dict, value: Any, path: str, errors: list[str], what: str) -> None:
    low, high = meta.get("min"), meta.get("max")
    if low is not None and size < low:
        bound = f"greater than or equal to {low}"
    elif high is not None and size > high:
        bound = f"less than or equal to {high}"
    else:
        return
    member = "Member must have length" if what == "length" else "Member must have value"
    errors.append(f"Value '{_show(value)}' at '{path}' failed to satisfy constraint: {member} {bound}")


def validate_request(operation: str, params: dict[str, Any], service: str = "sagemaker") -> None:
    """Raise ValidationException, worded as AWS words it, if params do not fit the operation's input shape."""
    shape = operation_model(operation, service).input_shape
    errors: list[str] = []
    if shape is not None:
        _check(shape, params, "", errors)
    if errors:
        noun = "error" if len(errors) == 1 else "errors"
        raise ValidationException(f"{len(errors)} validation {noun} detected: " + "; ".join(errors))
