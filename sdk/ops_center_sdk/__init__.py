"""`from ops_center_sdk import Plugin` — the Ops-Center guide's import name, on Plugyard's SDK."""

from plugyard_sdk.context import HostError
from plugyard_sdk.plugin import AppDescriptor, Plugin, PluginMetadata

__all__ = ["AppDescriptor", "HostError", "Plugin", "PluginMetadata"]
