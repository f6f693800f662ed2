"""The names plugin code may use without importing them: the same on the server and locally.

The guides' own code uses two names it never imports: the Ops-Center guide's handlers call
``datetime.now()`` (the class) and the SBH guide's ``daily_report`` job calls ``json.dumps``
(the module). So that a plugin written exactly as either guide shows runs unchanged, both
are provided, and only these two: the sandbox puts them in every plugin module's builtins
(``plugins_core.sandbox.runtime.guard``), and the guides' import names (``src.ext.sdk``,
``ops_center_sdk``) add them to this process's builtins when imported outside the sandbox,
so local runs and tests see exactly what the server gives. ``plugyard validate``'s
undefined-name check treats them as builtins too. Standard library only.
"""

from __future__ import annotations

import builtins
import datetime as _datetime
import json as _json
from types import MappingProxyType
from typing import Final

__all__ = ["PLUGIN_BUILTINS", "install"]

#: name -> what it is, in every plugin module, on the server and locally.
PLUGIN_BUILTINS: Final = MappingProxyType({"datetime": _datetime.datetime, "json": _json})


def install() -> None:
    """Make ``PLUGIN_BUILTINS`` builtins of this process, as the sandbox makes them the plugin's.

    Only names not already builtins are added, so nothing of Python's own is replaced."""
    for name, value in PLUGIN_BUILTINS.items():
        if not hasattr(builtins, name):
            setattr(builtins, name, value)

