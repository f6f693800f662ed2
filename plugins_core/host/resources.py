"""Host resources: the tables plugins reach through ``ctx.db`` (SBH) and ``plugin.api`` (Ops-Center).

A host exposes a model by registering a :class:`Resource` (see docs/host-integration.md).
The functions below are the only way a plugin call touches a resource's rows, so the rules
live here once:

- rows always come from ``resource.queryset_for_tenant(tenant)`` — the tenant's rows only;
- filters and ordering name *public* field names from ``filterable_fields``, never ORM
  lookups, so ``tenant__slug`` or ``password`` is refused rather than translated;
- writes accept only ``writable_fields`` and run in a transaction;
- a page is at most :data:`MAX_LIMIT` rows.

Permissions are checked by the bridge before any of this runs.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction

from plugins_core.host.errors import BadArguments, NotFound, Refused

if TYPE_CHECKING:
    from tenants.models import Tenant

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "Resource",
    "all_resources",
    "create_row",
    "delete_row",
    "get_resource",
    "get_row",
    "list_rows",
    "register_resource",
    "registered_resource",
    "run_action",
    "unregister_resource",
    "update_row",
]

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_IN_VALUES = 100
_SCALARS = (str, int, float, bool, type(None))

Row = dict[str, Any]
QuerysetFn = Callable[["Tenant"], models.QuerySet]
CreateFn = Callable[["Tenant", dict[str, Any]], models.Model]
UpdateFn = Callable[[models.Model, dict[str, Any]], models.Model]
DeleteFn = Callable[[models.Model], None]
ActionFn = Callable[[models.Model, dict[str, Any]], models.Model]


@dataclass(frozen=True)
class Resource:
    """One table a host exposes to plugins.

    ``filterable_fields`` maps the public name a plugin filters and orders by to the ORM
    path behind it (a plain list means the same name on both sides). ``create``,
    ``update`` and ``delete`` are the host's own domain services, so a plugin's write does
    exactly what the product's API would do — validation, events and all; leave one out and
    that operation is refused. ``actions`` are further writes on one row
    (``plugin.api.alerts.acknowledge(id)``), each ``fn(obj, data) -> obj``.
    """

    name: str
    queryset_for_tenant: QuerysetFn
    to_dict: Callable[[Any], Row]
    read_permission: str
    write_permission: str | None = None
    writable_fields: frozenset[str] = frozenset()
    filterable_fields: Mapping[str, str] = field(default_factory=dict)
    create: CreateFn | None = None
    update: UpdateFn | None = None
    actions: Mapping[str, ActionFn] = field(default_factory=dict)
    delete: DeleteFn | None = None
    id_field: str = "pk"
    default_ordering: str = "pk"
    description: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.filterable_fields, Mapping):
            object.__setattr__(self, "filterable_fields", {name: name for name in self.filterable_fields})
        object.__setattr__(self, "filterable_fields", dict(self.filterable_fields))
        object.__setattr__(self, "writable_fields", frozenset(self.writable_fields))
        object.__setattr__(self, "actions", dict(self.actions))
        clash = set(self.actions) & {"list", "get", "create", "update", "delete"}
        if clash:
            raise ValueError(f"resource {self.name!r}: actions may not be named {sorted(clash)}")

    @property
    def read_only(self) -> bool:
        return self.write_permission is None


_REGISTRY: dict[str, Resource] = {}


def register_resource(resource: Resource, *, replace: bool = False) -> Resource:
    """Expose ``resource`` to plugins. A name is registered once unless ``replace``."""
    existing = _REGISTRY.get(resource.name)
    if existing is not None and existing is not resource and not replace:
        raise ValueError(f"a host resource named {resource.name!r} is registered already")
    _REGISTRY[resource.name] = resource
    return resource


def unregister_resource(name: str) -> None:
    _REGISTRY.pop(name, None)


@contextmanager
def registered_resource(resource: Resource) -> Iterator[Resource]:
    """Register ``resource`` for the duration of a ``with`` block (tests, mostly)."""
    previous = _REGISTRY.get(resource.name)
    _REGISTRY[resource.name] = resource
    try:
        yield resource
    finally:
        if previous is None:
            _REGISTRY.pop(resource.name, None)
        else:
            _REGISTRY[resource.name] = previous


def all_resources() -> list[Resource]:
    return sorted(_REGISTRY.values(), key=lambda r: r.name)


def get_resource(name: Any) -> Resource:
    resource = _REGISTRY.get(name) if isinstance(name, str) else None
    if resource is None:
        known = ", ".join(sorted(_REGISTRY)) or "none"
        raise NotFound(f"there is no host resource {name!r}; the host exposes: {known}")
    return resource


# --- reading ---------------------------------------------------------------------------------


def _jsonable(row: Row) -> Row:
    """Dates, decimals and UUIDs as JSON strings, so the row crosses the sandbox pipe as-is."""
    return json.loads(json.dumps(row, cls=DjangoJSONEncoder))


def _lookup(resource: Resource, name: Any, purpose: str) -> str:
    if not isinstance(name, str) or name not in resource.filterable_fields:
        allowed = ", ".join(sorted(resource.filterable_fields)) or "none"
        raise BadArguments(f"cannot {purpose} {resource.name} by {name!r}; allowed fields: {allowed}")
    return resource.filterable_fields[name]


def _filter_kwargs(resource: Resource, filters: Any) -> dict[str, Any]:
    if filters is None:
        return {}
    if not isinstance(filters, Mapping):
        raise BadArguments(f"filters for {resource.name} must be an object of field: value")
    lookups: dict[str, Any] = {}
    for name, value in filters.items():
        path = _lookup(resource, name, "filter")
        if isinstance(value, list | tuple):
            if len(value) > MAX_IN_VALUES or not all(isinstance(v, _SCALARS) and v is not None for v in value):
                raise BadArguments(
                    f"filter {name!r}: a list matches any of at most {MAX_IN_VALUES} plain values"
                )
            lookups[f"{path}__in"] = list(value)
        elif value is None:
            lookups[f"{path}__isnull"] = True
        elif isinstance(value, _SCALARS):
            lookups[path] = value
        else:
            raise BadArguments(f"filter {name!r}: the value must be a string, number, boolean, null or a list")
    return lookups


def _limit(limit: Any) -> int:
    if limit is None:
        return DEFAULT_LIMIT
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise BadArguments(f"limit must be a positive integer (at most {MAX_LIMIT})")
    return min(limit, MAX_LIMIT)


def list_rows(
    resource: Resource,
    tenant: Tenant,
    filters: Any = None,
    *,
    limit: Any = None,
    offset: Any = 0,
    order_by: Any = None,
) -> list[Row]:
    """The tenant's rows matching ``filters`` (equality, or any-of for a list), one page."""
    lookups = _filter_kwargs(resource, filters)
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise BadArguments("offset must be a non-negative integer")
    ordering = resource.default_ordering
    if order_by is not None:
        descending = isinstance(order_by, str) and order_by.startswith("-")
        path = _lookup(resource, order_by[1:] if descending else order_by, "order")  # type: ignore[index]
        ordering = f"-{path}" if descending else path
    count = _limit(limit)
    queryset = resource.queryset_for_tenant(tenant)
    try:
        page = list(queryset.filter(**lookups).order_by(ordering)[offset : offset + count])
    except (ValueError, TypeError, ValidationError) as exc:
        raise BadArguments(f"bad filter value for {resource.name}: {_first_message(exc)}") from None
    return [_jsonable(resource.to_dict(obj)) for obj in page]


def _get_object(resource: Resource, tenant: Tenant, id: Any) -> models.Model | None:
    if id is None or isinstance(id, bool) or not isinstance(id, str | int):
        return None
    try:
        return resource.queryset_for_tenant(tenant).filter(**{resource.id_field: id}).first()
    except (ValueError, TypeError, ValidationError, ObjectDoesNotExist):
        return None


def _require_object(resource: Resource, tenant: Tenant, id: Any) -> models.Model:
    obj = _get_object(resource, tenant, id)
    if obj is None:
        raise NotFound(f"{resource.name} {id!r} does not exist")
    return obj


def get_row(resource: Resource, tenant: Tenant, id: Any) -> Row | None:
    """One of the tenant's rows, or None (another tenant's id is simply not there)."""
    obj = _get_object(resource, tenant, id)
    return None if obj is None else _jsonable(resource.to_dict(obj))


# --- writing ---------------------------------------------------------------------------------


def _first_message(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        if hasattr(exc, "error_dict"):
            return "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
        return " ".join(exc.messages)
    return str(exc)


def _writable(resource: Resource, data: Any) -> dict[str, Any]:
    if not isinstance(data, Mapping):
        raise BadArguments(f"data for {resource.name} must be an object of field: value")
    unknown = sorted(str(key) for key in data if key not in resource.writable_fields)
    if unknown:
        allowed = ", ".join(sorted(resource.writable_fields)) or "none"
        raise BadArguments(f"{resource.name} has no writable field(s) {', '.join(unknown)}; writable: {allowed}")
    return dict(data)


def _write(resource: Resource, operation: str, fn: Callable[[], models.Model]) -> Row:
    try:
        with transaction.atomic():
            obj = fn()
    except ValidationError as exc:
        raise BadArguments(f"cannot {operation} {resource.name}: {_first_message(exc)}") from None
    return _jsonable(resource.to_dict(obj))


def _refuse_unless(resource: Resource, fn: Any, operation: str) -> None:
    if fn is None:
        raise Refused(f"{resource.name} cannot be {operation} by plugins")


def create_row(resource: Resource, tenant: Tenant, data: Any) -> Row:
    _refuse_unless(resource, resource.create, "created")
    values = _writable(resource, data)
    return _write(resource, "create", lambda: resource.create(tenant, values))  # type: ignore[misc]


def update_row(resource: Resource, tenant: Tenant, id: Any, data: Any) -> Row:
    _refuse_unless(resource, resource.update, "updated")
    values = _writable(resource, data)
    obj = _require_object(resource, tenant, id)
    return _write(resource, "update", lambda: resource.update(obj, values))  # type: ignore[misc]


def delete_row(resource: Resource, tenant: Tenant, id: Any) -> Row:
    _refuse_unless(resource, resource.delete, "deleted")
    obj = _require_object(resource, tenant, id)
    row = _jsonable(resource.to_dict(obj))
    with transaction.atomic():
        resource.delete(obj)  # type: ignore[misc]
    return {"deleted": True, "id": row.get("id", id)}


def run_action(resource: Resource, tenant: Tenant, action: str, id: Any, data: Any = None) -> Row:
    fn = resource.actions.get(action)
    if fn is None:
        known = ", ".join(["list", "get", "create", "update", "delete", *sorted(resource.actions)])
        raise BadArguments(f"{resource.name} has no action {action!r}; actions: {known}")
    if data is not None and not isinstance(data, Mapping):
        raise BadArguments(f"data for {resource.name}.{action} must be an object")
    obj = _require_object(resource, tenant, id)
    return _write(resource, action, lambda: fn(obj, dict(data or {})))
