"""Report the plugin sandbox's isolation layers on this machine; exit 1 if any is missing."""
from django.core.management.base import BaseCommand, CommandError

from plugins_core.sandbox import get_supervisor


class Command(BaseCommand):
    help = "Show which sandbox isolation layers this machine gives plugin code; exit 1 if any is missing."

    def handle(self, *args, **options):
        supervisor = get_supervisor()
        layers = supervisor.layers()
        for name, active in layers.items():
            note = supervisor.layer_notes().get(name, "")
            self.stdout.write(f"{'active ' if active else 'MISSING'}  {name}{f'  ({note})' if note else ''}")
        missing = [name for name, active in layers.items() if not active]
        if missing:
            raise CommandError(f"missing layer(s): {', '.join(missing)}; see docs/sandbox.md")
        self.stdout.write("All isolation layers are active.")
