"""`from ops_center_sdk import Plugin` — the Ops-Center guide's import name, on Plugyard's SDK."""

from plugyard_sdk import plugin_builtins
from plugyard_sdk.context import HostError
from plugyard_sdk.plugin import AppDescriptor, Plugin, PluginMetadata

# The guide's code uses `datetime` unimported; the server provides it, so a local run must
# too (`plugyard_sdk.plugin_builtins`). Only this guide-facing name does this, on import.
plugin_builtins.install()

__all__ = ["AppDescriptor", "HostError", "Plugin", "PluginMetadata"]
