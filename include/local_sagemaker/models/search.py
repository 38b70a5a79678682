"""Search for TrainingJob and HyperParameterTuningJob: SearchExpression filters, SortBy and pagination.

A search record is the resource as SageMaker's `SearchRecord` holds it: the Describe* output trimmed to the
members of botocore's `TrainingJob` / `HyperParameterTuningJobSearchEntity` shape, plus the resource's Tags.
Property names are paths into that shape (`ResourceConfig.InstanceType`, `HyperParameters.eta`), with the
documented special forms `Metrics.<name>` (a FinalMetricDataList value) and `Tags.<key>`; walking the shape
both rejects names the resource does not have and gives each property its type, so values compare as numbers,
timestamps, booleans or text as AWS does.

AWS docs:
- https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_Search.html (SortBy defaults to
  LastModifiedTime, SortOrder to Descending; at most 50 filters, nested filters and subexpressions)
- https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_SearchExpression.html (at least one filter,
  nested filter or subexpression; Operator And or Or)
- https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_Filter.html (operators and their value types;
  a Value without Operator means Equals; Metrics.<name>, HyperParameters.<name>, Tags.<key>; one Contains per
  expression; timestamps as YYYY-mm-dd'T'HH:MM:SS)
- https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_NestedFilters.html (one element of the list
  must satisfy all the filters)
- https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_SearchRecord.html
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.model import Shape

from ..exceptions import ValidationException
from ..protocol import service_model
from .base import paginate

# Resource -> (its SearchRecord member, the entity shape, the member that names a record uniquely).
RESOURCES: dict[str, tuple[str, str, str]] = {
    "TrainingJob": ("TrainingJob", "TrainingJob", "TrainingJobName"),
    "HyperParameterTuningJob": (
        "HyperParameterTuningJob",
        "HyperParameterTuningJobSearchEntity",
        "HyperParameterTuningJobName",
    ),
}

MAX_ELEMENTS = 50
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_INTEGER = re.compile(r"[-+]?\d+")
_ORDERED = ("GreaterThan", "GreaterThanOrEqualTo", "LessThan", "LessThanOrEqualTo")
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "Equals": lambda a, b: a == b,
    "GreaterThan": lambda a, b: a > b,
    "GreaterThanOrEqualTo": lambda a, b: a >= b,
    "LessThan": lambda a, b: a < b,
    "LessThanOrEqualTo": lambda a, b: a <= b,
}

Record = dict[str, Any]
Predicate = Callable[[Record], bool]


def search_record(resource: str, described: dict[str, Any], tags: list[dict[str, str]] | None) -> Record:
    """A Describe* output as the SearchRecord shape has it: only the entity's members, plus Tags."""
    shape = service_model().shape_for(RESOURCES[resource][1])
    record = {key: value for key, value in described.items() if key in shape.members}
    if tags:
        record["Tags"] = tags
    return record


def search(params: dict[str, Any], records: Callable[[str], Iterable[Record]]) -> dict[str, Any]:
    """The Search response for a validated request; `records(resource)` gives every search record of it.

    The request is checked in full (resource, expression, SortBy) before any record is built, so a bad request
    fails the same way whatever resources exist.
    """
    resource = params["Resource"]
    if resource not in RESOURCES:
        raise ValidationException(
            f"Resource: searching {resource} is not supported by the local SageMaker; it searches "
            f"{' and '.join(RESOURCES)}."
        )
    if params.get("VisibilityConditions"):
        raise ValidationException("VisibilityConditions is not supported by the local SageMaker.")
    if params.get("CrossAccountFilterOption") == "CrossAccount":
        raise ValidationException(
            "CrossAccountFilterOption: CrossAccount is not supported by the local SageMaker, which has one account."
        )
    key, shape_name, name_member = RESOURCES[resource]
    entity = service_model().shape_for(shape_name)
    expression = params.get("SearchExpression")
    matches: Predicate = lambda _: True  # noqa: E731  (no expression: every resource)
    if expression is not None:
        if _count(expression) > MAX_ELEMENTS:
            raise ValidationException(
                f"SearchExpression: at most {MAX_ELEMENTS} Filters, NestedFilters and SubExpressions in all."
            )
        if _contains_count(expression) > 1:
            raise ValidationException("'CONTAINS' operator usage limit of 1 exceeded.")
        matches = _compile(expression, entity, "SearchExpression")
    sort = _property(entity, params.get("SortBy") or "LastModifiedTime", top=True, field="SortBy")
    if sort.kind == "object" or sort.multi:
        raise ValidationException(f"SortBy: {sort.name} is not a single value, so results cannot be sorted by it.")

    found = [r for r in records(resource) if matches(r)]
    found.sort(key=lambda r: r[name_member])  # a stable order for ties, so pages neither repeat nor skip
    descending = (params.get("SortOrder") or "Descending") == "Descending"
    valued = [(r, values[0]) for r in found if (values := sort.values(r))]
    unvalued = [r for r in found if not sort.values(r)]
    valued.sort(key=lambda pair: sort.sort_key(pair[1]), reverse=descending)
    # Records without the property come last in either order, as ListTrainingJobsForHyperParameterTuningJob
    # leaves jobs without an objective last.
    ordered = [r for r, _ in valued] + unvalued
    page, token = paginate(ordered, params.get("NextToken"), params.get("MaxResults"), key=lambda r: r[name_member])
    out: dict[str, Any] = {
        "Results": [{key: r} for r in page],
        "TotalHits": {"Value": len(ordered), "Relation": "EqualTo"},
    }
    if token:
        out["NextToken"] = token
    return out


# --- properties -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Property:
    """A resolved property name: its type and how to read its values (several when it runs through a list)."""

    name: str
    kind: str  # text, number, timestamp, boolean or object (a structure or map: Exists/NotExists only)
    values: Callable[[Record], list[Any]]
    multi: bool = False  # runs through a list, so a record may have several values
    hyperparameter: bool = False  # HyperParameters.<name>: text that compares as a number given a number

    def sort_key(self, value: Any) -> Any:
        if self.hyperparameter:
            return (0, float(value), "") if _NUMBER.fullmatch(value) else (1, 0.0, value)
        return value


def _property(shape: Shape, name: str, *, top: bool, field: str) -> Property:
    """Resolve a property name against a shape, or refuse it naming the field it came from."""
    if top and name.startswith("Metrics.") and "FinalMetricDataList" in shape.members:
        metric = name.removeprefix("Metrics.")
        return Property(
            name,
            "number",
            lambda r: [m["Value"] for m in r.get("FinalMetricDataList") or [] if m.get("MetricName") == metric],
        )
    if top and name.startswith("Tags.") and "Tags" in shape.members:
        tag = name.removeprefix("Tags.")
        return Property(name, "text", lambda r: [t["Value"] for t in r.get("Tags") or [] if t["Key"] == tag])
    steps: list[tuple[str, str]] = []  # ("member", name) or ("key", map key); lists are walked through
    multi = False
    segments = name.split(".")
    i = 0
    while True:
        while shape.type_name == "list":
            shape, multi = shape.member, True
        if i == len(segments):
            break
        if shape.type_name == "structure" and segments[i] in shape.members:
            steps.append(("member", segments[i]))
            shape = shape.members[segments[i]]
            i += 1
        elif shape.type_name == "map":
            # A map's key is the rest of the name: hyperparameter names may hold dots.
            steps.append(("key", ".".join(segments[i:])))
            shape = shape.value
            i = len(segments)
        else:
            raise ValidationException(
                f"{field}: {name} is not a property of the resource (at {'.'.join(segments[: i + 1])}); "
                "see the SearchRecord shape for property names."
            )
    kind = {
        "string": "text",
        "integer": "number",
        "long": "number",
        "float": "number",
        "double": "number",
        "timestamp": "timestamp",
        "boolean": "boolean",
    }.get(shape.type_name, "object")
    hyperparameter = top and segments[0] == "HyperParameters" and kind == "text"
    return Property(name, kind, lambda r: _walk(r, steps), multi, hyperparameter)


def _walk(record: Any, steps: list[tuple[str, str]]) -> list[Any]:
    current = [record]
    for _, step in steps:
        found = []
        for item in current:
            value = item.get(step) if isinstance(item, dict) else None
            if isinstance(value, list):
                found.extend(value)
            elif value is not None:
                found.append(value)
        current = found
    return current


# --- expressions ------------------------------------------------------------------------------------
def _count(expression: dict[str, Any]) -> int:
    nested = expression.get("NestedFilters") or []
    subs = expression.get("SubExpressions") or []
    return (
        len(expression.get("Filters") or [])
        + len(nested)
        + sum(len(n["Filters"]) for n in nested)
        + len(subs)
        + sum(_count(s) for s in subs)
    )


def _contains_count(expression: dict[str, Any]) -> int:
    filters = [
        *(expression.get("Filters") or []),
        *(f for n in expression.get("NestedFilters") or [] for f in n["Filters"]),
    ]
    return sum(f.get("Operator") == "Contains" for f in filters) + sum(
        _contains_count(s) for s in expression.get("SubExpressions") or []
    )


def _compile(expression: dict[str, Any], entity: Shape, path: str) -> Predicate:
    parts: list[Predicate] = []
    for i, item in enumerate(expression.get("Filters") or [], 1):
        parts.append(_filter(item, entity, f"{path}.Filters.{i}", top=True))
    for i, nested in enumerate(expression.get("NestedFilters") or [], 1):
        parts.append(_nested(nested, entity, f"{path}.NestedFilters.{i}"))
    for i, sub in enumerate(expression.get("SubExpressions") or [], 1):
        parts.append(_compile(sub, entity, f"{path}.SubExpressions.{i}"))
    if not parts:
        raise ValidationException(f"{path}: give at least one of Filters, NestedFilters or SubExpressions.")
    if (expression.get("Operator") or "And") == "Or":
        return lambda r: any(p(r) for p in parts)
    return lambda r: all(p(r) for p in parts)


def _nested(nested: dict[str, Any], entity: Shape, path: str) -> Predicate:
    """NestedFilters: one element of the list property must satisfy every filter (names keep the prefix)."""
    prefix = nested["NestedPropertyName"]
    parent = _property(entity, prefix, top=False, field=f"{path}.NestedPropertyName")
    element = _element_shape(entity, prefix)
    if not parent.multi or element is None:
        raise ValidationException(f"{path}.NestedPropertyName: {prefix} is not a list of objects.")
    checks = []
    for i, item in enumerate(nested["Filters"], 1):
        name = item["Name"]
        if not name.startswith(prefix + "."):
            raise ValidationException(f"{path}.Filters.{i}.Name: {name} must start with {prefix}. to filter it.")
        relative = {**item, "Name": name.removeprefix(prefix + ".")}
        checks.append(_filter(relative, element, f"{path}.Filters.{i}", top=False, shown=name))
    return lambda r: any(all(check(e) for check in checks) for e in parent.values(r))


def _element_shape(entity: Shape, name: str) -> Shape | None:
    shape = entity
    for segment in name.split("."):
        while shape.type_name == "list":
            shape = shape.member
        if shape.type_name != "structure" or segment not in shape.members:
            return None
        shape = shape.members[segment]
    if shape.type_name != "list":
        return None
    while shape.type_name == "list":
        shape = shape.member
    return shape if shape.type_name == "structure" else None


def _filter(item: dict[str, Any], shape: Shape, path: str, *, top: bool, shown: str | None = None) -> Predicate:
    prop = _property(shape, item["Name"], top=top, field=f"{path}.Name")
    name = shown or item["Name"]
    value = item.get("Value")
    operator = item.get("Operator") or "Equals"
    if operator in ("Exists", "NotExists"):
        if value is not None:
            raise ValidationException(f"{path}.Value: {operator} takes no Value.")
        if operator == "Exists":
            return lambda r: bool(prop.values(r))
        return lambda r: not prop.values(r)
    if value is None:
        raise ValidationException(f"{path}.Value is required with the {operator} operator.")
    if prop.kind == "object":
        raise ValidationException(f"{path}: {name} is an object; only Exists and NotExists apply to it.")
    if prop.hyperparameter and _NUMBER.fullmatch(value) and operator not in ("Contains", "In"):
        return _hyperparameter(operator, value)(prop)
    if operator in ("Contains", "In"):
        if prop.kind != "text":
            raise ValidationException(f"{path}: the {operator} operator applies to text properties only, not {name}.")
        if operator == "Contains":
            return lambda r: any(value in v for v in prop.values(r))
        options = {v.strip() for v in value.split(",")}
        return lambda r: any(v in options for v in prop.values(r))
    if operator in _ORDERED and prop.kind not in ("number", "timestamp"):
        raise ValidationException(
            f"{path}: the {operator} operator applies to numeric and timestamp properties, not to {name}."
        )
    convert = _converter(prop.kind, value, f"{path}.Value", name)
    target = convert.parse(value)
    if operator == "NotEquals":
        return lambda r: not any(convert.of(v) == target for v in prop.values(r))
    compare = _COMPARE[operator]
    return lambda r: any(compare(convert.of(v), target) for v in prop.values(r))


@dataclass(frozen=True)
class _Converter:
    parse: Callable[[str], Any]  # the filter's Value
    of: Callable[[Any], Any]  # a record's value, comparable with it


def _converter(kind: str, value: str, path: str, name: str) -> _Converter:
    if kind == "number":
        if not _NUMBER.fullmatch(value):
            raise ValidationException(f"{path}: {name} is numeric; {value!r} is not a number.")
        return _Converter(float, float)
    if kind == "boolean":
        if value.lower() not in ("true", "false"):
            raise ValidationException(f"{path}: {name} is a boolean; give true or false, not {value!r}.")
        return _Converter(lambda v: v.lower() == "true", bool)
    if kind == "timestamp":
        try:
            moment = datetime.fromisoformat(value)
        except ValueError as exc:
            raise ValidationException(
                f"{path}: {name} is a timestamp; give YYYY-mm-dd'T'HH:MM:SS, not {value!r}."
            ) from exc
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        # Compared at the precision given: a value to the second matches any time within that second.
        whole = moment.microsecond == 0
        return _Converter(lambda _: moment, lambda v: _as_time(v).replace(microsecond=0) if whole else _as_time(v))
    return _Converter(str, str)


def _as_time(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromtimestamp(float(value), UTC)


def _hyperparameter(operator: str, value: str) -> Callable[[Property], Predicate]:
    """HyperParameters.<name> against a number: hyperparameters compare as decimals, or as integers when the
    Value is an integer (a decimal hyperparameter is truncated), per the Filter page; a hyperparameter that is
    not a number does not satisfy the comparison (it does satisfy NotEquals)."""
    integer = bool(_INTEGER.fullmatch(value))
    target = int(value) if integer else float(value)

    def number(text: str) -> float | int | None:
        if not _NUMBER.fullmatch(text):
            return None
        return int(float(text)) if integer else float(text)

    def build(prop: Property) -> Predicate:
        if operator == "NotEquals":
            return lambda r: not any(number(v) == target for v in prop.values(r))
        compare = _COMPARE[operator]
        return lambda r: any((n := number(v)) is not None and compare(n, target) for v in prop.values(r))

    return build
