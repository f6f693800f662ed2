"""The plugin sandbox (host side). Importing this package never imports Django or plugin code.

    from plugins_core.sandbox import get_supervisor, Invocation, DictBridge
    result = get_supervisor().invoke(Invocation(...), bridge)

See docs/sandbox.md for the threat model and the layers.
"""

from .bridge import BRIDGE_METHODS, BridgeError, DictBridge, HostBridge, PermissionDenied
from .calls import Invocation, InvocationResult, LoadReport
from .policy import SandboxPolicy
from .supervisor import Supervisor, get_supervisor

__all__ = [
    "BRIDGE_METHODS", "BridgeError", "DictBridge", "HostBridge", "Invocation", "InvocationResult",
    "LoadReport", "PermissionDenied", "SandboxPolicy", "Supervisor", "get_supervisor",
]
