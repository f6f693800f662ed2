"""Run the machine's sandbox service: it owns every jail here; web and workers call it."""
from django.core.management.base import BaseCommand, CommandError

from plugins_core.sandbox.service import serve
from plugins_core.sandboxes import policy as sandbox_policy


class Command(BaseCommand):
    help = ("Run the sandbox service (one per machine): every plugin call from this machine's web and "
            "Celery processes runs in the jails it owns. Stops on SIGTERM.")

    def add_arguments(self, parser):
        parser.add_argument("--socket", help="Unix socket to listen on (default: PLUGYARD_SANDBOX['socket_path'])")

    def handle(self, *args, **options):
        policy = sandbox_policy()
        path = options["socket"] or policy.socket_path
        if not path:
            raise CommandError("no socket path: set PLUGYARD_SANDBOX_SOCKET or pass --socket")
        self.stdout.write(f"sandbox service: listening on {path}", ending="\n")
        self.stdout.flush()
        try:
            serve(path, policy)
        except RuntimeError as exc:  # another service on the socket, or the path is not a socket
            raise CommandError(str(exc)) from None
