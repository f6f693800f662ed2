"""What a version asks for beyond (or short of) what a tenant granted: permissions and domains.

One small, pure comparison, so every place that shows or decides on an upgrade's consent
(the installed plugin's page, the API's installation, issue 12's upgrade policy) reads the
same difference. No queries: it compares an installation's granted rows with a version's
manifest, both already loaded.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from plugins_core.models import Installation, PluginVersion

__all__ = ["GrantDiff", "diff", "pending", "requested_domains"]


@dataclass(frozen=True)
class GrantDiff:
    """Added: asked for and not granted. Removed: granted and no longer asked for."""

    permissions_added: list[str]
    permissions_removed: list[str]
    domains_added: list[str]
    domains_removed: list[str]

    @property
    def empty(self) -> bool:
        return not (self.permissions_added or self.permissions_removed or self.domains_added or self.domains_removed)

    @property
    def asks_for_more(self) -> bool:
        """True when approving would widen what the plugin may do (the part that needs consent)."""
        return bool(self.permissions_added or self.domains_added)

    def as_dict(self) -> dict[str, list[str]]:
        return {
            "permissions_added": self.permissions_added,
            "permissions_removed": self.permissions_removed,
            "domains_added": self.domains_added,
            "domains_removed": self.domains_removed,
        }


def requested_domains(version: PluginVersion) -> list[str]:
    """The manifest's ``allowed_domains``: the hosts the version's ``ctx.http`` may call."""
    manifest = version.manifest if isinstance(version.manifest, dict) else {}
    return [str(d) for d in manifest.get("allowed_domains") or []]


def diff(granted_permissions: Any, granted_domains: Any, version: PluginVersion) -> GrantDiff:
    """``version``'s permissions and domains against a grant (lists as stored; None is none)."""
    have_p, want_p = set(granted_permissions or []), set(version.permissions)
    have_d, want_d = set(granted_domains or []), set(requested_domains(version))
    return GrantDiff(
        permissions_added=sorted(want_p - have_p),
        permissions_removed=sorted(have_p - want_p),
        domains_added=sorted(want_d - have_d),
        domains_removed=sorted(have_d - want_d),
    )


def pending(installation: Installation) -> GrantDiff:
    """What the installed version asks for against what the tenant granted it."""
    return diff(installation.granted_permissions, installation.approved_domains, installation.version)
