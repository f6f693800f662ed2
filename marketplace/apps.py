from django.apps import AppConfig


class MarketplaceConfig(AppConfig):
    name = "marketplace"
    verbose_name = "Marketplace"

    def ready(self) -> None:
        # Django imports apps before their models are ready: receivers are imported here.
        from marketplace.listings import ensure_listing
        from plugins_core.signals import version_uploaded

        version_uploaded.connect(ensure_listing, dispatch_uid="marketplace.ensure_listing")
