"""Pieces every resource shares: ARNs, clock, tags, declarative pagination."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar

from .. import DEFAULT_ACCOUNT_ID
from ..exceptions import ValidationException

T = TypeVar("T")

# Where a training job and a tuning job end; both state machines stop at these.
TERMINAL_STATUSES = frozenset({"Completed", "Failed", "Stopped"})


class SpecResource:
    """A resource made from its create request (`spec`) plus what SageMaker tracks about it (`_STATE`).

    The store keeps one record per resource: the spec and those attributes. Restoring re-runs the
    constructor on the spec, then puts the tracked attributes back.
    """

    _STATE: ClassVar[tuple[str, ...]] = ("created",)
    spec: dict[str, Any]

    def record(self) -> dict[str, Any]:
        return {"spec": self.spec, **{key: getattr(self, key) for key in self._STATE}}

    @classmethod
    def from_record(cls, region: str, body: dict[str, Any]) -> Any:
        resource = cls(region, body["spec"])  # type: ignore[call-arg]  # subclasses take (region, spec)
        for key in cls._STATE:
            if key in body:
                setattr(resource, key, body[key])
        return resource


def now() -> datetime:
    return datetime.now(UTC)


def arn(region: str, resource_type: str, name: str) -> str:
    # SageMaker lower-cases resource names in ARNs.
    return f"arn:aws:sagemaker:{region}:{DEFAULT_ACCOUNT_ID}:{resource_type}/{name.lower()}"


def paginate(
    items: Sequence[T],
    next_token: str | None,
    max_results: int | None,
    default_max: int = 10,
    key: Callable[[T], str] | None = None,
) -> tuple[list[T], str | None]:
    """Slice items for one page. The token is opaque to clients: base64 of the next offset.

    With `key` (a unique name) the token also names the page's last item, and the next page starts right after
    it: an item created or deleted ahead of it between two calls then neither repeats nor skips one. The offset
    is the fallback when that item is gone.
    """
    start, after = 0, None
    if next_token:
        try:
            decoded = json.loads(base64.b64decode(next_token))
            start, after = int(decoded["offset"]), decoded.get("after")
        except (ValueError, KeyError, TypeError) as exc:
            raise ValidationException("Invalid pagination token: NextToken") from exc
    if key is not None and after is not None:
        start = next((i + 1 for i, item in enumerate(items) if key(item) == after), start)
    size = max_results or default_max
    page = list(items[start : start + size])
    end = start + size
    token = None
    if end < len(items):
        state = {"offset": end, **({"after": key(page[-1])} if key is not None and page else {})}
        token = base64.b64encode(json.dumps(state).encode()).decode()
    return page, token


def filter_and_sort(
    items: Sequence[T],
    params: dict[str, Any],
    *,
    name: Callable[[T], str],
    created: Callable[[T], datetime],
    status: Callable[[T], str] | None = None,
    sort_keys: dict[str, Callable[[T], Any]] | None = None,
    default_sort: str = "CreationTime",
    default_order: str = "Descending",
    modified: Callable[[T], datetime] | None = None,
) -> list[T]:
    """The List* filters SageMaker shares: NameContains, Creation/LastModifiedTime bounds, StatusEquals; then the
    sort, whose defaults each operation documents (SortBy, SortOrder in its API reference)."""
    out = list(items)
    if params.get("NameContains"):
        needle = params["NameContains"].lower()
        out = [i for i in out if needle in name(i).lower()]
    for key, op in (("CreationTimeAfter", ">"), ("CreationTimeBefore", "<")):
        if params.get(key) is not None:
            bound = _as_datetime(params[key])
            out = [i for i in out if (created(i) > bound if op == ">" else created(i) < bound)]
    if modified is not None:
        for key, op in (("LastModifiedTimeAfter", ">"), ("LastModifiedTimeBefore", "<")):
            if params.get(key) is not None:
                bound = _as_datetime(params[key])
                out = [i for i in out if (modified(i) > bound if op == ">" else modified(i) < bound)]
    if status is not None and params.get("StatusEquals"):
        out = [i for i in out if status(i) == params["StatusEquals"]]
    keys = {"Name": name, "CreationTime": created, **(sort_keys or {})}
    sort_by = params.get("SortBy") or default_sort
    reverse = (params.get("SortOrder") or default_order) == "Descending"
    return sorted(out, key=keys.get(sort_by, created), reverse=reverse)


def _as_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromtimestamp(float(value), UTC)
