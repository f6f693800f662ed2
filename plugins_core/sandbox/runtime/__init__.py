"""The plugin side of the sandbox: zygote and worker. Standard library + SDK runtime only.

This package is bound read-only into the jail as the top-level package `_pyard_rt` and
must never import Django, the host side of the sandbox, or anything outside the stdlib.
It uses only relative imports so the same files work under both names.
"""
