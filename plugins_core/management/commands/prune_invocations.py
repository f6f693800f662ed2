"""Delete invocation log rows and dispatched events older than the retention setting."""
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from plugins_core.retention import prune


class Command(BaseCommand):
    help = "Delete invocations and dispatched events older than PLUGYARD_INVOCATION_RETENTION_DAYS."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=None, help="override the retention setting")

    def handle(self, *args, days, **options):
        days = settings.PLUGYARD_INVOCATION_RETENTION_DAYS if days is None else days
        if days < 1:
            raise CommandError("--days: keep at least one day of logs.")
        invocations, events = prune(days)
        self.stdout.write(f"Deleted {invocations} invocation row(s) and {events} event row(s) older than {days} day(s).")
