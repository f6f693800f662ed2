from django.apps import AppConfig


class MarketplaceConfig(AppConfig):
    name = "marketplace"
    verbose_name = "Marketplace"

    def ready(self) -> None:
        # Django imports apps before their models are ready: receivers are imported here.
        from django.core import checks

        from marketplace import entitlements, package_media, review
        from marketplace.listings import ensure_listing
        from plugins_core import readiness, signals

        signals.version_uploaded.connect(ensure_listing, dispatch_uid="marketplace.ensure_listing")
        signals.version_uploaded.connect(package_media.on_version_uploaded, dispatch_uid="marketplace.package_media")
        signals.listing_state.connect(review.listing_state, dispatch_uid="marketplace.listing_state")
        signals.review_requested.connect(review.review_requested, dispatch_uid="marketplace.review_requested")
        readiness.register_check("marketplace.entitlement", entitlements.check_installation)
        checks.register(entitlements.check_setting)
