"""The installed plugin's settings form, generated from its version's ``config_schema``.

The form only turns what a person typed into JSON values; whether they are right is the
schema's call, through the same ``services.update_config`` the API's ``PATCH …/config``
uses. So no field is ``required`` for Django and a value that does not convert (``abc``
for an integer) is passed on as typed: jsonschema then names it (``'abc' is not of type
'integer'``), and its messages land on their fields (:meth:`ConfigForm.add_problems`).

Each top-level property becomes one field: strings, integers, numbers, booleans and enums
as inputs, a select or a checkbox; arrays of strings or numbers as one item per line (of
an ``enum``, as checkboxes); anything else as JSON text. An empty input means "not set",
so the schema's default applies again.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from django import forms

__all__ = ["ConfigForm", "SettingField"]

_INTEGER = re.compile(r"[+-]?\d+")
_NOT_SET = object()


@dataclass(frozen=True)
class SettingField:
    """How one top-level property of the schema is asked for."""

    name: str
    kind: str  # string, integer, number, boolean, enum, list, choices, json
    spec: dict[str, Any]
    required: bool

    @property
    def has_default(self) -> bool:
        return "default" in self.spec

    @property
    def default_text(self) -> str:
        return _choice_label(self.spec["default"]) if self.has_default else ""

    @property
    def item_kind(self) -> str:
        items = self.spec.get("items")
        return _type_of(items) if isinstance(items, dict) else "string"


def _type_of(spec: dict[str, Any]) -> str:
    kind = spec.get("type")
    if isinstance(kind, list):  # ["string", "null"]: ask for the value, not the null
        kind = next((k for k in kind if k != "null"), None)
    return kind if isinstance(kind, str) else ""


def _kind(spec: dict[str, Any]) -> str:
    if isinstance(spec.get("enum"), list) and spec["enum"]:
        return "enum"
    kind = _type_of(spec)
    if kind in ("string", "integer", "number", "boolean"):
        return kind
    items = spec.get("items")
    if kind == "array" and isinstance(items, dict):
        if isinstance(items.get("enum"), list) and items["enum"]:
            return "choices"
        if _type_of(items) in ("string", "integer", "number"):
            return "list"
    return "json"


def _choice_label(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _number(raw: str, *, integer: bool) -> Any:
    text = raw.strip()
    if _INTEGER.fullmatch(text):
        return int(text)
    if not integer:
        try:
            value = float(text)
        except ValueError:
            return raw
        return value if math.isfinite(value) else raw
    return raw  # jsonschema says why it is not an integer


def _from_choice(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw


class ConfigForm(forms.Form):
    """One field per top-level property of ``schema``, filled from ``config``."""

    version = forms.IntegerField(widget=forms.HiddenInput)

    def __init__(self, schema: dict[str, Any] | None, config: dict[str, Any], *, version_id: int,
                 data: Any = None, disabled: bool = False) -> None:
        super().__init__(data, initial={"version": version_id}, prefix=None)
        properties = (schema or {}).get("properties") if isinstance(schema, dict) else None
        required = set((schema or {}).get("required") or []) if isinstance(schema, dict) else set()
        self.settings: list[SettingField] = []
        for name, spec in (properties or {}).items() if isinstance(properties, dict) else []:
            spec = spec if isinstance(spec, dict) else {}
            setting = SettingField(str(name), _kind(spec), spec, name in required)
            self.settings.append(setting)
            field = self._field(setting)
            field.disabled = disabled
            field.initial = self._initial(setting, config.get(setting.name, _NOT_SET))
            self.fields[self.field_name(setting.name)] = field

    @staticmethod
    def field_name(setting: str) -> str:
        # A property may be called "version", or anything: keep them apart from the form's own.
        return f"setting__{setting}"

    def bound_settings(self) -> list[tuple[SettingField, forms.BoundField]]:
        return [(setting, self[self.field_name(setting.name)]) for setting in self.settings]

    # -------------------------------------------------------------------- fields

    def _field(self, setting: SettingField) -> forms.Field:
        spec = setting.spec
        label = str(spec.get("title") or setting.name)
        help_text = str(spec.get("description") or "")
        attrs = {"aria-required": "true"} if setting.required else {}
        common: dict[str, Any] = {"label": label, "help_text": help_text, "required": False}
        if setting.kind == "boolean":
            return forms.BooleanField(**common)
        if setting.kind == "enum":
            choices = [(json.dumps(v), _choice_label(v)) for v in spec["enum"]]
            if not (setting.required or setting.has_default):
                choices.insert(0, ("", "— not set —"))
            return forms.ChoiceField(choices=choices, widget=forms.Select(attrs=attrs), **common)
        if setting.kind == "choices":
            choices = [(json.dumps(v), _choice_label(v)) for v in spec["items"]["enum"]]
            return forms.MultipleChoiceField(choices=choices, widget=forms.CheckboxSelectMultiple, **common)
        if setting.kind in ("integer", "number"):
            step = "1" if setting.kind == "integer" else "any"
            widget = forms.NumberInput(attrs={**attrs, "step": step})
            return forms.CharField(widget=widget, strip=True, **common)
        if setting.kind == "list":
            widget = forms.Textarea(attrs={**attrs, "rows": 3})
            return forms.CharField(widget=widget, strip=False, **common)
        if setting.kind == "json":
            widget = forms.Textarea(attrs={**attrs, "rows": 4, "spellcheck": "false"})
            return forms.CharField(widget=widget, strip=True, **common)
        return forms.CharField(widget=forms.TextInput(attrs=attrs), strip=True, **common)

    @staticmethod
    def _initial(setting: SettingField, value: Any) -> Any:
        if value is _NOT_SET:
            return False if setting.kind == "boolean" else None
        if setting.kind == "boolean":
            return bool(value)
        if setting.kind == "enum":
            return json.dumps(value)
        if setting.kind == "choices":
            return [json.dumps(v) for v in value] if isinstance(value, list) else []
        if setting.kind == "list" and isinstance(value, list):
            return "\n".join(_choice_label(v) for v in value)
        if setting.kind in ("json", "list"):
            return json.dumps(value, indent=2)
        return value

    # -------------------------------------------------------------------- values

    def changes(self) -> dict[str, Any]:
        """The config keys this form sets; None for "not set" (a merge-patch removal)."""
        changes: dict[str, Any] = {}
        for setting in self.settings:
            raw = self.cleaned_data.get(self.field_name(setting.name))
            changes[setting.name] = self._value(setting, raw)
        return changes

    def _value(self, setting: SettingField, raw: Any) -> Any:
        if setting.kind == "boolean":
            return bool(raw)
        if setting.kind == "choices":
            return [_from_choice(item) for item in raw or []]
        if raw in (None, ""):
            return None
        if setting.kind == "enum":
            return _from_choice(raw)
        if setting.kind in ("integer", "number"):
            return _number(raw, integer=setting.kind == "integer")
        if setting.kind == "list":
            items = [line.strip() for line in raw.splitlines() if line.strip()]
            if setting.item_kind in ("integer", "number"):
                return [_number(item, integer=setting.item_kind == "integer") for item in items]
            return items
        if setting.kind == "json":
            try:
                return json.loads(raw)
            except ValueError as exc:
                self.add_error(self.field_name(setting.name), f"This is not valid JSON: {exc}.")
                return None
        return raw

    def add_problems(self, details: list[dict[str, Any]]) -> None:
        """Put each of the validator's problems (``config.threshold``: message) on its field."""
        names = {setting.name for setting in self.settings}
        for detail in details:
            path = str(detail.get("field") or "")
            rest = path.partition(".")[2] if path.startswith("config.") else ""
            key = rest.split(".", 1)[0].split("[", 1)[0]
            message = str(detail.get("message") or "is not valid")
            if key in names:
                if rest != key:  # a nested path (tags[2]): say where inside the value
                    message = f"{rest}: {message}"
                self.add_error(self.field_name(key), message)
            else:
                self.add_error(None, f"{path or 'config'}: {message}")
