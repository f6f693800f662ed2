"""The plugin manifest: ``plugin.json`` (SBH) and ``plugin.yaml`` (Ops-Center) → one `Manifest`.

Checked in two layers, every problem reported at once: a pydantic model for the shape of
the file (field names exactly as the publisher wrote them, unknown keys refused), then
rules across fields (``slug`` vs ``id``, duplicates, pricing, ``config_schema``). The
result is normalised: canonical permissions, ``entry`` from either spelling, hooks and
filters in one list.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
)
from pydantic_core import PydanticCustomError

from ._documents import load_document, load_yaml
from ._fields import (
    Cron,
    EmitPattern,
    EntryPath,
    EventName,
    Identifier,
    RoutePath,
    SecretName,
    SemVer,
    Slug,
    Url,
    Version,
    custom_error,
)
from ._manifest_rules import check_rules
from .config_schema import apply_config_defaults, check_config_schema, validate_config
from .permissions import UnknownPermission, normalise_permission
from .problems import PackageInvalid, Problem, ProblemCode, problems_from_pydantic

__all__ = [
    "MANIFEST_FILENAMES",
    "EntryPath",
    "EventName",
    "Identifier",
    "HookSpec",
    "JobSpec",
    "Manifest",
    "Pricing",
    "RouteSpec",
    "RuntimeSpec",
    "SecretSpec",
    "SemVer",
    "apply_config_defaults",
    "check_config_schema",
    "load_yaml",
    "parse_manifest",
    "validate_config",
]

MANIFEST_FILENAMES: tuple[str, ...] = ("plugin.json", "plugin.yaml")


# ---------------------------------------------------------------------------- shape layer


def _permission(value: str) -> str:
    try:
        return normalise_permission(value)
    except UnknownPermission as exc:
        raise PydanticCustomError(
            ProblemCode.UNKNOWN_PERMISSION.value, "{reason}", {"reason": str(exc)}
        ) from None


def _domain(value: str) -> str:
    lowered = value.strip().lower().rstrip(".")
    if not _DOMAIN_RE.fullmatch(lowered):
        raise PydanticCustomError(
            ProblemCode.INVALID_DOMAIN.value,
            "{reason}",
            {
                "reason": f"{value!r} is not a hostname (use example.com or *.example.com; no scheme, port or path)"
            },
        )
    return lowered


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


def _lower(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


def _stringify_number(value: Any) -> Any:
    # YAML reads `version: 1.0` as a float; say "not semver", not "not a string".
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return value


_DOMAIN_RE = re.compile(
    r"(\*\.)?(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?", re.ASCII
)
Permission = Annotated[str, AfterValidator(_permission)]
Domain = Annotated[str, AfterValidator(_domain)]
Method = Annotated[Literal["GET", "POST", "PUT", "PATCH", "DELETE"], BeforeValidator(_upper)]
Category = Annotated[
    str, BeforeValidator(_lower), StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
]
Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=5000)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class _RouteIn(_In):
    path: RoutePath
    methods: Annotated[list[Method], Field(min_length=1)] = ["GET"]
    handler: Identifier | None = None


class _HookIn(_In):
    event: EventName
    handler: Identifier | None = None
    priority: Annotated[int, Field(ge=-1000, le=1000)] = 10
    kind: Literal["action", "filter"] = "action"


class _FilterIn(_In):
    event: EventName
    handler: Identifier | None = None
    priority: Annotated[int, Field(ge=-1000, le=1000)] = 10


class _JobIn(_In):
    name: Identifier
    schedule: Cron
    handler: Identifier | None = None


def _secret_shorthand(value: Any) -> Any:
    # `secrets: [API_KEY]` is short for `secrets: [{name: API_KEY}]`.
    if isinstance(value, str):
        return {"name": value}
    if not isinstance(value, dict):
        raise custom_error(ProblemCode.INVALID_TYPE, "a secret is a name or a mapping of name and description")
    return value


class _SecretIn(_In):
    name: SecretName
    description: Text = ""


class _PricingIn(_In):
    model: Literal["free", "one-time", "subscription"] = "free"
    price: Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=2, allow_inf_nan=False)] = (
        Decimal(0)
    )
    currency: Annotated[str, BeforeValidator(_upper), StringConstraints(pattern=r"^[A-Z]{3}$")] = (
        "USD"
    )


class _RuntimeIn(_In):
    type: Literal["python"] = "python"
    version: Annotated[
        str, BeforeValidator(_stringify_number), StringConstraints(pattern=r"^3\.\d{1,2}\+?$")
    ] = "3.11+"
    entrypoint: EntryPath | None = None


class _ManifestIn(_In):
    """Every top-level key either guide shows, plus the few both formats may carry."""

    slug: Slug | None = None
    id: Slug | None = None
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    version: Annotated[Version, BeforeValidator(_stringify_number)]
    description: Text = ""
    author: ShortText = ""
    repo_url: Url | None = None
    repository: Url | None = None
    homepage: Url | None = None
    license: ShortText | None = None
    entry: EntryPath | None = None
    type: Literal["backend", "frontend", "hybrid", "container"] = "backend"
    category: Category | None = None
    keywords: Annotated[
        list[Annotated[str, StringConstraints(min_length=1, max_length=40)]], Field(max_length=20)
    ] = []
    pricing: _PricingIn = _PricingIn()
    permissions: list[Permission] = []
    events: list[EventName] = []
    emits: list[EmitPattern] = []
    custom_events: list[EmitPattern] = []
    routes: list[_RouteIn] = []
    hooks: list[_HookIn] = []
    filters: list[_FilterIn] = []
    jobs: list[_JobIn] = []
    config_schema: dict[str, Any] | None = None
    secrets: list[Annotated[_SecretIn, BeforeValidator(_secret_shorthand)]] = []
    allowed_domains: list[Domain] = []
    runtime: _RuntimeIn | None = None


_FIELD_NAMES = sorted(_ManifestIn.model_fields)


# ---------------------------------------------------------------------------- result


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class RouteSpec(_Out):
    path: str
    methods: list[str] = ["GET"]
    handler: str | None = None


class HookSpec(_Out):
    event: str
    handler: str | None = None
    priority: int = 10
    kind: Literal["action", "filter"] = "action"


class JobSpec(_Out):
    name: str
    schedule: str
    handler: str | None = None


class SecretSpec(_Out):
    """A secret the plugin needs: declared in the manifest, or found in the package.

    `parse_manifest` gives the declared ones; `read_package` adds those the code reads
    (``ctx.secrets.get("NAME")``) and the webhooks use (``${SECRET:NAME}``), with
    ``used_in`` naming the files.
    """

    name: str
    description: str = ""
    declared: bool = True
    used_in: list[str] = []


class Pricing(_Out):
    model: Literal["free", "one-time", "subscription"] = "free"
    price: Decimal = Decimal(0)
    currency: str = "USD"


class RuntimeSpec(_Out):
    type: Literal["python"] = "python"
    version: str = "3.11+"
    entrypoint: str = "main.py"


class Manifest(_Out):
    """A validated, normalised manifest; the same shape whichever guide it was written for."""

    slug: str
    name: str
    version: str
    description: str = ""
    author: str = ""
    repo_url: str | None = None
    homepage: str | None = None
    license: str | None = None
    entry: str = "main.py"
    type: str = "backend"
    category: str | None = None
    keywords: list[str] = []
    pricing: Pricing = Pricing()
    permissions: list[str] = []
    events: list[str] = []
    emits: list[str] = []
    routes: list[RouteSpec] = []
    routes_enabled: bool = False
    hooks: list[HookSpec] = []
    jobs: list[JobSpec] = []
    config_schema: dict[str, Any] | None = None
    secrets: list[SecretSpec] = []
    allowed_domains: list[str] = []
    runtime: RuntimeSpec = RuntimeSpec()
    source_format: Literal["sbh", "ops-center"] = "sbh"

    @property
    def semver(self) -> SemVer:
        """The version parsed for ordering (semver 2.0 precedence)."""
        return SemVer.parse(self.version)

    def subscribed_events(self) -> list[str]:
        """Events the plugin listens to: ``events`` and every hook's event, in order, once each."""
        seen: dict[str, None] = dict.fromkeys(self.events)
        seen.update(dict.fromkeys(h.event for h in self.hooks))
        return list(seen)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data (prices as strings)."""
        return self.model_dump(mode="json")


def _normalise(m: _ManifestIn, fmt: str, routes_flag: bool | None) -> Manifest:
    entry = m.entry or (m.runtime.entrypoint if m.runtime else None) or "main.py"
    runtime = m.runtime or _RuntimeIn()
    hooks = [HookSpec(**h.model_dump()) for h in m.hooks]
    hooks += [HookSpec(kind="filter", **f.model_dump()) for f in m.filters]
    routes = [
        RouteSpec(path=r.path, methods=list(dict.fromkeys(r.methods)), handler=r.handler)
        for r in m.routes
    ]
    return Manifest(
        slug=m.slug or m.id or "",
        name=m.name,
        version=m.version,
        description=m.description,
        author=m.author,
        repo_url=m.repo_url or m.repository,
        homepage=m.homepage,
        license=m.license,
        entry=entry,
        type=m.type,
        category=m.category,
        keywords=list(dict.fromkeys(m.keywords)),
        pricing=Pricing(**m.pricing.model_dump()),
        permissions=list(dict.fromkeys(m.permissions)),
        events=m.events,
        emits=list(dict.fromkeys(m.emits + m.custom_events)),
        routes=routes,
        routes_enabled=bool(routes) if routes_flag is None else routes_flag,
        hooks=hooks,
        jobs=[JobSpec(**j.model_dump()) for j in m.jobs],
        config_schema=m.config_schema,
        secrets=[SecretSpec(name=x.name, description=x.description) for x in m.secrets],
        allowed_domains=list(dict.fromkeys(m.allowed_domains)),
        runtime=RuntimeSpec(type=runtime.type, version=runtime.version, entrypoint=entry),
        source_format=fmt,
    )


def parse_manifest(filename: str, raw: bytes) -> Manifest:
    """Parse ``plugin.json`` or ``plugin.yaml`` bytes into a `Manifest`.

    Raises `PackageInvalid` listing every problem, each with its field path.
    """
    if filename not in MANIFEST_FILENAMES:
        raise PackageInvalid(
            [
                Problem(
                    filename,
                    ProblemCode.MISSING_MANIFEST,
                    f"the manifest must be named {' or '.join(MANIFEST_FILENAMES)}",
                )
            ]
        )
    fmt: Literal["sbh", "ops-center"] = "sbh" if filename == "plugin.json" else "ops-center"
    data = load_document(filename, raw)
    if not isinstance(data, dict):
        raise PackageInvalid(
            [
                Problem(
                    filename,
                    ProblemCode.INVALID_TYPE,
                    f"the manifest must be a mapping of fields, not {type(data).__name__}",
                )
            ]
        )
    data = dict(data)
    problems: list[Problem] = []
    bad_keys = [k for k in data if not isinstance(k, str)]
    for key in bad_keys:
        problems.append(
            Problem(
                str(key),
                ProblemCode.INVALID_TYPE,
                f"field names must be strings; got {key!r} (quote it)",
            )
        )
        del data[key]
    routes_flag: bool | None = None
    if isinstance(data.get("routes"), bool):
        routes_flag = data.pop("routes")
    model: _ManifestIn | None = None
    try:
        model = _ManifestIn.model_validate(data)
    except ValidationError as exc:
        for problem in problems_from_pydantic(exc.errors()):
            if (
                problem.code == ProblemCode.UNKNOWN_FIELD
                and "." not in problem.field
                and "[" not in problem.field
            ):
                problem = Problem(
                    problem.field,
                    problem.code,
                    f"{problem.message}; the manifest's fields are: {', '.join(_FIELD_NAMES)}",
                )
            problems.append(problem)
    except RecursionError:
        problems.append(
            Problem(filename, ProblemCode.INVALID_VALUE, "the manifest is nested too deeply")
        )
    problems += check_rules(data, fmt)
    if problems or model is None:
        raise PackageInvalid(problems)
    return _normalise(model, fmt, routes_flag)
