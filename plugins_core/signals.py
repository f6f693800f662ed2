"""Signals plugins_core sends, for the apps above it (the marketplace) to act on.

Apps below never import the apps above them; they announce what happened, and an app above
listens (``marketplace.apps`` connects its receivers in ``ready``).
"""
from django.dispatch import Signal

__all__ = ["first_answer", "listing_state", "review_requested", "version_uploaded"]

#: Sent inside the upload's transaction, once a new version of a plugin is stored (a
#: receiver that raises rolls the upload back). Arguments: ``plugin`` (Plugin), ``version``
#: (PluginVersion), ``manifest`` (the normalised manifest as JSON: name, description,
#: category, keywords, pricing…). The marketplace seeds a draft listing from it.
version_uploaded = Signal()

#: Sent when the API shows a publisher one of its own plugins (``GET /api/plugins/<id>``).
#: Arguments: ``plugin`` (Plugin). A receiver answers the plugin's marketplace listing as a
#: JSON-able dict (``status``, ``reason``, ``reviewed_at``…) or None; the API shows the
#: first dict as ``listing`` (null when nobody answers). The marketplace answers it.
listing_state = Signal()

#: Sent by ``POST /api/plugins/<id>/submit`` when a publisher asks for a version's review.
#: Arguments: ``plugin`` (Plugin), ``version`` (PluginVersion), ``user``. A receiver puts the
#: version up for review and answers the listing as ``listing_state`` does, or raises an
#: ``ApiError`` saying why it cannot (already approved…). The marketplace answers it.
review_requested = Signal()


def first_answer(signal: Signal, **kwargs: object) -> object | None:
    """The first receiver's non-None answer to ``signal.send(None, **kwargs)``, or None."""
    return next((answer for _receiver, answer in signal.send(sender=None, **kwargs) if answer is not None), None)
