"""manage.py create_tenant SLUG --owner EMAIL: the last line printed is the owner's new token."""
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_email

from tenants.models import Tenant
from tenants.services import create_tenant_with_owner


class Command(BaseCommand):
    help = "Create a tenant with an owner and print the owner's new API token (last line)."

    def add_arguments(self, parser):
        parser.add_argument("slug", help="URL-safe tenant id, e.g. acme")
        parser.add_argument("--owner", required=True, help="the owner's email address")
        parser.add_argument("--name", default="", help="display name (defaults to the slug)")
        parser.add_argument("--timezone", default="UTC", help="IANA time zone for job schedules")

    def handle(self, *args, slug, owner, name, timezone, **options):
        try:
            validate_email(owner)
        except ValidationError:
            raise CommandError(f"--owner: {owner!r} is not an email address.") from None
        if Tenant.objects.filter(slug=slug).exists():
            raise CommandError(f"slug: a tenant {slug!r} exists already.")
        try:
            tenant, _, token = create_tenant_with_owner(slug, owner, name=name, timezone=timezone)
        except ValidationError as exc:
            problems = "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items())
            raise CommandError(problems) from None
        self.stdout.write(f"Created tenant {tenant.slug!r} with owner {owner}.")
        self.stdout.write("API token (shown once; send it as 'Authorization: Bearer <token>'):")
        self.stdout.write(token)
