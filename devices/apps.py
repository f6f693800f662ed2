from django.apps import AppConfig


class DevicesConfig(AppConfig):
    """The demo product domain: devices and their alerts, exposed to plugins as host resources."""

    name = "devices"
    verbose_name = "Devices"

    def ready(self) -> None:
        from devices.resources import register

        register()
