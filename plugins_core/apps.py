from django.apps import AppConfig


class PluginsCoreConfig(AppConfig):
    name = "plugins_core"
    verbose_name = "Plugins"

    def ready(self) -> None:
        # Django imports apps before their models are ready: what ready() wires up is
        # imported here, the documented place for it.
        from plugins_core.events import sources
        from plugins_core.host import builtin_resources

        sources.connect()
        builtin_resources.register_builtins()
