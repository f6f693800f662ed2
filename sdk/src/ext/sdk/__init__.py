"""`from src.ext.sdk import hook, route, job, PluginContext` — the SBH guide's import name.

`src/` and `src/ext/` are namespace-package portions (no `__init__.py`), so a host project
that has its own `src` package can still coexist with this one.
"""

from plugyard_sdk import plugin_builtins
from plugyard_sdk.context import HostError, HttpResponse, PluginContext, Request
from plugyard_sdk.sbh import hook, job, route

# The guide's code uses `json` unimported; the server provides it, so a local run must too
# (`plugyard_sdk.plugin_builtins`). Only this guide-facing name does this, on import.
plugin_builtins.install()

__all__ = ["HostError", "HttpResponse", "PluginContext", "Request", "hook", "job", "route"]
