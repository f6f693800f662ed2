"""The plugin sandbox. Importing this package never imports Django or plugin code.

Host code calls the machine's sandbox service through the client:

    from plugins_core.sandbox import get_sandbox, Invocation
    result = get_sandbox().invoke(Invocation(...), bridge)

The service (`service.py`, run by `manage.py sandboxd`) owns the `Supervisor`, which owns
the jails. See docs/sandbox.md for the threat model and the layers.
"""

from .bridge import BRIDGE_METHODS, BridgeError, DictBridge, HostBridge, PermissionDenied
from .calls import Invocation, InvocationResult, LoadReport
from .client import SandboxClient, SandboxUnavailable, get_sandbox
from .policy import SandboxPolicy
from .supervisor import Supervisor, get_supervisor

__all__ = [
    "BRIDGE_METHODS", "BridgeError", "DictBridge", "HostBridge", "Invocation", "InvocationResult",
    "LoadReport", "PermissionDenied", "SandboxClient", "SandboxPolicy", "SandboxUnavailable", "Supervisor",
    "get_sandbox", "get_supervisor",
]
