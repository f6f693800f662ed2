"""Webhooks-as-code: the ``webhooks/*.yaml`` files of a plugin, as the SBH guide writes them.

A file names the events it is sent ``on``, where and how it is delivered (URL, headers,
HMAC-SHA256 signing), an optional Python transform, and the retry policy. Values may use
``${SECRET:NAME}`` (an installation secret) and ``${TENANT_ID}``; their syntax is checked
here and `render_placeholders` substitutes them at delivery time.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from pathlib import PurePosixPath
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from ._documents import load_yaml
from ._fields import EventName, custom_error, entry_path_error
from .problems import PackageInvalid, Problem, ProblemCode, problems_from_pydantic

__all__ = [
    "PLACEHOLDER_RE",
    "EMIT_WEBHOOK",
    "Delivery",
    "Retry",
    "Signing",
    "Transform",
    "WebhookSpec",
    "parse_webhook",
    "placeholder_problems",
    "render_placeholders",
]

#: The permission a package with webhook files needs (checked at upload and before a send).
EMIT_WEBHOOK = "emit_webhook"

PLACEHOLDER_RE = re.compile(
    r"\$\{(?:SECRET:(?P<secret>[A-Z][A-Z0-9_]{0,63})|(?P<tenant>TENANT_ID))\}"
)
_HEADER_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}", re.ASCII)
_SECRET_ONLY = re.compile(r"\$\{SECRET:[A-Z][A-Z0-9_]{0,63}\}")


def placeholder_problems(text: str) -> str | None:
    """Why ``text`` has a malformed placeholder, or None when every ``${...}`` is valid."""
    rest = PLACEHOLDER_RE.sub("", text)
    if "${" in rest:
        start = rest.index("${")
        bad = rest[start : rest.find("}", start) + 1 or None]
        return f"{bad[:80]!r} is not a placeholder; use ${{SECRET:NAME}} (NAME in capitals) or ${{TENANT_ID}}"
    return None


def render_placeholders(text: str, secrets: Mapping[str, str], tenant_id: str) -> str:
    """Substitute ``${SECRET:NAME}`` and ``${TENANT_ID}``; a missing secret raises KeyError."""

    def substitute(match: re.Match[str]) -> str:
        return tenant_id if match.group("tenant") else secrets[match.group("secret")]

    return PLACEHOLDER_RE.sub(substitute, text)


def _templated(value: str) -> str:
    reason = placeholder_problems(value)
    if reason:
        raise custom_error(ProblemCode.INVALID_PLACEHOLDER, reason)
    if "\r" in value or "\n" in value:
        raise custom_error(ProblemCode.INVALID_VALUE, "must not contain line breaks")
    return value


def _url(value: str) -> str:
    _templated(value)
    if not (_SECRET_ONLY.fullmatch(value) or re.match(r"https?://[^\s/?#]+", value)):
        raise custom_error(
            ProblemCode.INVALID_URL,
            f"{value[:100]!r} must be an http(s) URL or a ${{SECRET:NAME}} placeholder",
        )
    return value


def _secret_ref(value: str) -> str:
    _templated(value)
    if not _SECRET_ONLY.fullmatch(value):
        raise custom_error(
            ProblemCode.PLAIN_SECRET,
            "the signing secret must be a ${SECRET:NAME} placeholder, never the secret itself",
        )
    return value


def _header_name(value: str) -> str:
    if not _HEADER_NAME.fullmatch(value):
        raise custom_error(ProblemCode.INVALID_VALUE, f"{value[:100]!r} is not an HTTP header name")
    return value


def _transform_entry(value: str) -> str:
    path, sep, func = value.partition("#")
    reason = entry_path_error(path)
    if reason:
        raise custom_error(ProblemCode.INVALID_PATH, f"{path[:100]!r} {reason}")
    if not sep or not _IDENTIFIER.fullmatch(func):
        raise custom_error(
            ProblemCode.INVALID_PATH,
            f"{value[:100]!r} must be 'path/to/file.py#function'",
        )
    return value


Templated = Annotated[str, AfterValidator(_templated)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


class Signing(_In):
    alg: Literal["HMAC-SHA256"]
    secret: Annotated[str, AfterValidator(_secret_ref)]


class Delivery(_In):
    url: Annotated[str, AfterValidator(_url)]
    headers: dict[Annotated[str, AfterValidator(_header_name)], Templated] = {}
    signing: Signing | None = None


class Transform(_In):
    language: Literal["python"] = "python"
    entry: Annotated[str, AfterValidator(_transform_entry)]

    @property
    def file(self) -> str:
        """The transform's file, relative to the plugin root."""
        return self.entry.partition("#")[0]

    @property
    def function(self) -> str:
        """The function in `file` that transforms an event's data."""
        return self.entry.partition("#")[2]


class Retry(_In):
    max_attempts: Annotated[int, Field(ge=1, le=20)] = 6
    backoff: Literal["exponential", "fixed"] = "exponential"


class _WebhookIn(_In):
    api_version: Literal["v1"]
    on: Annotated[list[EventName], Field(min_length=1)]
    delivery: Delivery
    transform: Transform | None = None
    retry: Retry = Retry()


class WebhookSpec(_WebhookIn):
    """One validated ``webhooks/<name>.yaml`` file."""

    path: str
    name: str

    def secret_names(self) -> list[str]:
        """Every secret the webhook refers to, so the admin can ask for them."""
        texts = [self.delivery.url, *self.delivery.headers.values()]
        if self.delivery.signing:
            texts.append(self.delivery.signing.secret)
        names = [m.group("secret") for t in texts for m in PLACEHOLDER_RE.finditer(t)]
        return list(dict.fromkeys(n for n in names if n))


def parse_webhook(path: str, raw: bytes, files: Collection[str] | None = None) -> WebhookSpec:
    """Parse one webhook file; ``files`` (the package's paths) lets the transform be checked.

    Raises `PackageInvalid`; every field path is prefixed with the file (``webhooks/x.yaml: on``).
    """
    prefix = f"{path}: "
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PackageInvalid(
            [Problem(path, ProblemCode.INVALID_ENCODING, f"not UTF-8 text: {exc.reason}")]
        ) from None
    data = load_yaml(path, text)
    if not isinstance(data, dict):
        raise PackageInvalid(
            [Problem(path, ProblemCode.INVALID_TYPE, "a webhook file must be a mapping of fields")]
        )
    problems: list[Problem] = []
    data = _fix_yaml_on(data, prefix, problems)
    model: _WebhookIn | None = None
    try:
        model = _WebhookIn.model_validate(data)
    except ValidationError as exc:
        problems += problems_from_pydantic(exc.errors(), prefix)
    if model is not None and model.transform is not None and files is not None:
        if model.transform.file not in files:
            problems.append(
                Problem(
                    f"{prefix}transform.entry",
                    ProblemCode.MISSING_FILE,
                    f"the transform file {model.transform.file!r} is not in the package",
                )
            )
    if problems or model is None:
        raise PackageInvalid(problems)
    return WebhookSpec(**model.model_dump(), path=path, name=PurePosixPath(path).stem)


def _fix_yaml_on(data: dict[Any, Any], prefix: str, problems: list[Problem]) -> dict[str, Any]:
    # YAML 1.1 reads the bare key `on` as the boolean True; it is the guide's key, so take it back.
    fixed: dict[str, Any] = {}
    for key, value in data.items():
        if key is True:
            key = "on"
            if "on" in data:
                problems.append(
                    Problem(f"{prefix}on", ProblemCode.DUPLICATE, "'on' is given twice")
                )
                continue
        if not isinstance(key, str):
            problems.append(
                Problem(
                    f"{prefix}{key}",
                    ProblemCode.INVALID_TYPE,
                    f"field names must be strings, not {key!r}",
                )
            )
            continue
        fixed[key] = value
    return fixed
