from django.apps import AppConfig


class DevicesConfig(AppConfig):
    """The demo product domain: devices and their alerts, exposed to plugins as host resources."""

    name = "devices"
    verbose_name = "Devices"

    def ready(self) -> None:
        # Django imports apps before their models are ready: what ready() wires up is
        # imported here, the documented place for it.
        from devices import events, resources

        events.register()
        resources.register()
