from django.apps import AppConfig


class PluginsCoreConfig(AppConfig):
    name = "plugins_core"
    verbose_name = "Plugins"

    def ready(self) -> None:
        from plugins_core.events import sources

        sources.connect()
