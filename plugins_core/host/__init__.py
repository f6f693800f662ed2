"""The host side of ``ctx``: what plugin code reaches through calls back to the host.

- :mod:`.bridge` — :class:`~plugins_core.host.bridge.InstallationBridge`, one installation's
  dispatch table from RPC method to handler, each call checked against its permissions.
- :mod:`.resources` — the registry of host resources behind ``ctx.db`` and ``plugin.api``.
- :mod:`.http`, :mod:`.files`, :mod:`.storage`, :mod:`.llm`, :mod:`.mail` — one service each.
- :mod:`.models` — the rows those services keep (imported by ``plugins_core.models``).

Nothing is imported here, so importing the models module never drags in the services.
"""
