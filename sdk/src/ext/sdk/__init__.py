"""`from src.ext.sdk import hook, route, job, PluginContext` — the SBH guide's import name.

`src/` and `src/ext/` are namespace-package portions (no `__init__.py`), so a host project
that has its own `src` package can still coexist with this one.
"""

from plugyard_sdk.context import HostError, HttpResponse, PluginContext, Request
from plugyard_sdk.sbh import hook, job, route

__all__ = ["HostError", "HttpResponse", "PluginContext", "Request", "hook", "job", "route"]
