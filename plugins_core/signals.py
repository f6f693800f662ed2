"""Signals plugins_core sends, for the apps above it (the marketplace) to act on.

Apps below never import the apps above them; they announce what happened, and an app above
listens (``marketplace.apps`` connects its receivers in ``ready``).
"""
from django.dispatch import Signal

__all__ = ["version_uploaded"]

#: Sent inside the upload's transaction, once a new version of a plugin is stored (a
#: receiver that raises rolls the upload back). Arguments: ``plugin`` (Plugin), ``version``
#: (PluginVersion), ``manifest`` (the normalised manifest as JSON: name, description,
#: category, keywords, pricing…). The marketplace seeds a draft listing from it.
version_uploaded = Signal()
