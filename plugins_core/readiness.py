"""Whether an installation may be switched on: its settings valid and complete, its secrets set.

The one rule behind enabling, whoever asks: ``services.enable`` checks it (so the API's
``POST /api/plugins/<id>/enable``, the marketplace's Enable button, the admin and demo data
all refuse alike), and the installed plugin's page shows the same list before anyone asks.

* Settings: the config, with the schema's defaults filled in, validated against the
  version's ``config_schema`` by the SDK's validator, the one ``PATCH …/config`` uses. So a
  required setting with no default that is not set is missing (``config.api_url``,
  ``required``), and a value the schema no longer accepts is named too.
* Secrets: every secret the version needs must be set (``secrets.WEBHOOK_SIGNING_KEY``).
  The SDK's package reader lists them in the manifest: declared (``secrets:``), read in the
  code (``ctx.secrets.get("X")``) or used by a webhook (``${SECRET:X}``). Versions stored
  before it did are covered for webhooks by reading their stored webhook files here.
* Checks of other apps: plugins_core cannot import the apps above it, so an app that has
  its own reason to refuse (the marketplace's entitlements: a refused purchase, an ended
  trial) registers a check in its ``AppConfig.ready()`` with :func:`register_check`. Each
  answers ``Missing`` items under a field path of its own (``entitlement``), and they are
  listed with the rest, so the API's 400 and the page name them alike.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from plugyard_sdk.config_schema import apply_config_defaults, validate_config

from plugins_core.errors import NotReady
from plugins_core.models import Installation, PluginVersion, Secret
from plugins_core.webhooks.specs import webhooks_of

__all__ = [
    "Missing",
    "NeededSecret",
    "Readiness",
    "ReadinessCheck",
    "check",
    "needed_secrets",
    "readiness",
    "register_check",
    "registered_check",
    "unregister_check",
]


@dataclass(frozen=True)
class NeededSecret:
    """A secret the version needs; ``used_in`` names the files that use it."""

    name: str
    description: str = ""
    declared: bool = True
    used_in: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Missing:
    """One thing in the way of enabling, by field path: ``config.<key>`` or ``secrets.<NAME>``."""

    field: str
    code: str
    message: str

    @property
    def kind(self) -> str:
        return self.field.partition(".")[0]

    @property
    def name(self) -> str:
        """The setting's top-level key or the secret's name (``config.tags[0]`` → ``tags``)."""
        rest = self.field.partition(".")[2]
        return rest.split(".", 1)[0].split("[", 1)[0]

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "code": self.code, "message": self.message}


@dataclass(frozen=True)
class Readiness:
    """What an installation lacks before it may be enabled, and which of its secrets are set."""

    missing: list[Missing]
    secrets: list[NeededSecret]
    secrets_set: frozenset[str]

    @property
    def ready(self) -> bool:
        return not self.missing

    @property
    def missing_settings(self) -> list[Missing]:
        return [m for m in self.missing if m.kind == "config"]

    @property
    def missing_secrets(self) -> list[Missing]:
        return [m for m in self.missing if m.kind == "secrets"]


#: A check an app adds: what it finds in the way of enabling ``installation`` (nothing: []).
ReadinessCheck = Callable[[Installation], Iterable[Missing]]

# Registered in AppConfig.ready(), by name so a second ready() replaces rather than doubles;
# run in registration order, after the settings and secrets.
_checks: dict[str, ReadinessCheck] = {}


def register_check(name: str, check: ReadinessCheck) -> None:
    """Add ``check`` (under ``name``, e.g. ``"marketplace.entitlement"``) to every readiness."""
    _checks[name] = check


def unregister_check(name: str) -> None:
    _checks.pop(name, None)


@contextmanager
def registered_check(name: str, check: ReadinessCheck) -> Iterator[None]:
    """Register ``check`` for the duration of a ``with`` block (tests), then restore."""
    before = _checks.get(name)
    register_check(name, check)
    try:
        yield
    finally:
        if before is None:
            unregister_check(name)
        else:
            _checks[name] = before


def needed_secrets(version: PluginVersion) -> list[NeededSecret]:
    """Every secret the version needs, in the manifest's order, once each."""
    needed: dict[str, NeededSecret] = {}
    manifest = version.manifest if isinstance(version.manifest, dict) else {}
    for item in manifest.get("secrets") or []:
        if isinstance(item, dict) and isinstance(item.get("name"), str):
            needed.setdefault(item["name"], NeededSecret(
                item["name"], str(item.get("description") or ""), bool(item.get("declared", True)),
                [str(p) for p in item.get("used_in") or []],
            ))
    for spec in webhooks_of(version):
        for name in spec.secret_names():
            if name not in needed:
                needed[name] = NeededSecret(name, declared=False, used_in=[spec.path])
    return list(needed.values())


def _config_problems(installation: Installation) -> list[Missing]:
    schema = installation.version.config_schema
    config = apply_config_defaults(schema, installation.config)
    missing = []
    for problem in validate_config(schema, config):
        code = str(getattr(problem.code, "value", problem.code))
        if code == "required":
            key = problem.field.partition(".")[2]
            message = f"The setting {key} is required and has no default; set it."
        else:
            message = f"The setting {problem.field.partition('.')[2] or 'config'} is not valid: {problem.message}"
        missing.append(Missing(problem.field, code, message))
    return missing


def readiness(installation: Installation) -> Readiness:
    """What stands between ``installation`` and being enabled (nothing: ``.ready``)."""
    secrets = needed_secrets(installation.version)
    is_set = frozenset(Secret.objects.filter(installation=installation).values_list("name", flat=True))
    missing = _config_problems(installation)
    missing += [
        Missing(f"secrets.{secret.name}", "required", f"The secret {secret.name} is not set.")
        for secret in secrets
        if secret.name not in is_set
    ]
    for extra in list(_checks.values()):
        missing += list(extra(installation))
    return Readiness(missing, secrets, is_set)


def check(installation: Installation) -> None:
    """Raise NotReady (400, every missing thing by field path) unless the installation is ready."""
    state = readiness(installation)
    if not state.ready:
        raise NotReady(installation.plugin.name, [m.as_dict() for m in state.missing])
