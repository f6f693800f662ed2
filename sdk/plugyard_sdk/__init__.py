"""Plugyard plugin SDK: both plugin styles on one runtime.

The runtime surface exported here is standard-library only, because the sandbox imports
it: SBH module decorators (`hook`, `route`, `job`, `PluginContext`) and the Ops-Center
`Plugin` object. Host/CLI modules (`manifest`, `package`, `cli`, ...) are imported by name
and never from here, so importing `plugyard_sdk` stays cheap and dependency-free.
"""

from .context import HostError, HttpResponse, PluginContext, Request
from .plugin import AppDescriptor, Plugin, PluginMetadata
from .sbh import hook, job, route

__all__ = [
    "AppDescriptor", "HostError", "HttpResponse", "Plugin", "PluginContext", "PluginMetadata",
    "Request", "hook", "job", "route",
]
