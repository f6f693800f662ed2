"""The server's side of package validation: the SDK's one validator, given this host's catalog.

The rules themselves live in the SDK (`plugyard_sdk.validation`), so `plugyard validate`
and an upload give the same problems and warnings, with the same codes and field paths;
this module only supplies what the server knows and the CLI does not: the event catalog
with the host's registered events, and the load report from the sandbox.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from plugyard_sdk import validation as _rules
from plugyard_sdk.package import PluginPackage
from plugyard_sdk.problems import Problem
from plugyard_sdk.validation import Code, Findings, subscriptions_from

from plugins_core.events.catalog import current_catalog

__all__ = ["Code", "Findings", "check_load_report", "check_package", "subscriptions_from", "validate"]


def check_package(package: PluginPackage) -> list[Problem]:
    """The manifest and webhook files against this host's catalog (before loading the code)."""
    return _rules.check_package(package, current_catalog())


def check_load_report(manifest: Mapping[str, Any], report: Mapping[str, Any]) -> Findings:
    return _rules.check_load_report(manifest, report, current_catalog())


def validate(package: PluginPackage, report: Mapping[str, Any]) -> Findings:
    """Every rule, as `plugyard validate` runs them: problems refuse the upload, warnings are kept."""
    return _rules.validate(package, report, current_catalog())
