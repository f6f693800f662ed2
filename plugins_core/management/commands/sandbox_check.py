"""Report the plugin sandbox's isolation layers on this machine; exit 1 if any is missing.

Second walls (bubblewrap --disable-userns, cgroup v2 limits) are reported but never fail it.
"""
from django.core.management.base import BaseCommand, CommandError

from plugins_core.sandbox import Supervisor
from plugins_core.sandbox.client import SandboxUnavailable
from plugins_core.sandboxes import get_sandbox, policy

SECOND_WALLS = ("disable_userns", "cgroups")


class Command(BaseCommand):
    help = ("Show which sandbox isolation layers this machine gives plugin code, as the running sandbox "
            "service sees them (or as a fresh probe does, when the service is down); exit 1 if any is missing.")

    def handle(self, *args, **options):
        try:
            status = get_sandbox().status()
            self.stdout.write(f"sandbox service: running at {get_sandbox().socket_path}")
            layers, notes = status.get("layers") or {}, status.get("notes") or {}
        except SandboxUnavailable as exc:
            self.stdout.write(f"sandbox service: NOT RUNNING ({exc})")
            supervisor = Supervisor(policy())
            layers, notes = supervisor.layers(), supervisor.layer_notes()
        for name, active in layers.items():
            note = notes.get(name, "")
            self.stdout.write(f"{'active ' if active else 'MISSING'}  {name}{f'  ({note})' if note else ''}")
        for name, note in notes.items():
            if name not in layers:
                # Second walls (disable_userns, cgroups) say "on: …" or "off: …"; strict mode
                # does not require them (plugins_core/sandbox/jail.py says why).
                label = "second " if name in SECOND_WALLS else "note   "
                self.stdout.write(f"{label}  {name}  ({note})")
        missing = [name for name, active in layers.items() if not active]
        if missing:
            raise CommandError(f"missing layer(s): {', '.join(missing)}; see docs/sandbox.md")
        self.stdout.write("All isolation layers are active.")
