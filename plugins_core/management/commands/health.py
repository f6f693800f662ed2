"""Is the pipeline moving? The checks of ``GET /readyz``, for probes and people; exit 1 if not.

``--only workers,outbox`` judges the named checks only, for a probe that restarts one kind
of process: a worker's liveness probe asks for
``workers,outbox,pending`` (docs/operators.md, "Liveness").
"""
import json

from django.core.management.base import BaseCommand, CommandError

from plugins_core import health


class Command(BaseCommand):
    help = "Check that events and jobs are moving (what GET /readyz answers); exit 1 naming what is stuck."

    def add_arguments(self, parser):
        parser.add_argument("--only", default="", help=f"comma-separated checks to judge, of: {', '.join(health.CHECKS)}")
        parser.add_argument("--json", action="store_true", dest="as_json", help="print the /readyz JSON body instead of lines")

    def handle(self, *args, only: str, as_json: bool, **options):
        wanted = [name.strip() for name in only.split(",") if name.strip()] or list(health.CHECKS)
        unknown = sorted(set(wanted) - set(health.CHECKS))
        if unknown:
            raise CommandError(f"--only: unknown check(s) {', '.join(unknown)}; known: {', '.join(health.CHECKS)}")
        checks = [check for check in health.readiness() if check.name in wanted]
        body = health.report(checks)
        if as_json:
            self.stdout.write(json.dumps(body, indent=2))
        else:
            for check in checks:
                self.stdout.write(f"{'ok     ' if check.ok else 'FAILING'}  {check.name}: {check.detail}")
        if body["failing"]:
            raise CommandError("not ready: " + "; ".join(body["failing"]))
        if not as_json:
            self.stdout.write("ready")
