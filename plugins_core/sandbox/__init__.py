"""The plugin sandbox. Importing this package never imports Django or plugin code.

Host code calls the machine's sandbox service through the client (`plugins_core.sandboxes`
builds this process's one from Django settings):

    from plugins_core.sandboxes import get_sandbox
    result = get_sandbox().invoke(Invocation(...), bridge)

The service (`service.py`, run by `manage.py sandboxd`) owns the `Supervisor`, which owns
the jails. See docs/sandbox.md for the threat model and the layers.
"""

from .bridge import BRIDGE_METHODS, BridgeError, DictBridge, HostBridge, PermissionDenied
from .calls import Invocation, InvocationResult, LoadReport
from .client import SandboxClient, SandboxUnavailable
from .policy import SandboxPolicy
from .supervisor import Supervisor, get_supervisor

__all__ = [
    "BRIDGE_METHODS", "BridgeError", "DictBridge", "HostBridge", "Invocation", "InvocationResult",
    "LoadReport", "PermissionDenied", "SandboxClient", "SandboxPolicy", "SandboxUnavailable", "Supervisor",
    "get_supervisor",
]
