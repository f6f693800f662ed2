"""manage.py create_tenant SLUG --owner EMAIL: how the owner signs in, then their new token.

The last line printed is the owner's API token (tests, docs and scripts read it). Before it
comes a one-time set-password link for the owner (``tenants.links``), or, with
``--password`` or ``PLUGYARD_OWNER_PASSWORD``, the password is set directly and the sign-in
page is named instead. Bad input exits non-zero naming the field; nothing is stored then.
"""
import os

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_email

from tenants import links
from tenants.models import Tenant
from tenants.services import create_tenant_with_owner

PASSWORD_ENV = "PLUGYARD_OWNER_PASSWORD"


class Command(BaseCommand):
    help = (
        "Create a tenant with an owner, print a one-time link for the owner to choose a "
        "password, and print the owner's new API token (last line)."
    )

    def add_arguments(self, parser):
        parser.add_argument("slug", help="URL-safe tenant id, e.g. acme")
        parser.add_argument("--owner", required=True, help="the owner's email address")
        parser.add_argument("--name", default="", help="display name (defaults to the slug)")
        parser.add_argument("--timezone", default="UTC", help="IANA time zone for job schedules")
        parser.add_argument(
            "--password",
            default=None,
            help=f"set the owner's password instead of printing a link (scripts: set {PASSWORD_ENV} "
            "instead, so the password does not show in the process list)",
        )

    def handle(self, *args, slug, owner, name, timezone, password, **options):
        password_field = "--password"
        if password is None and os.environ.get(PASSWORD_ENV):
            password, password_field = os.environ[PASSWORD_ENV], PASSWORD_ENV
        try:
            validate_email(owner)
        except ValidationError:
            raise CommandError(f"--owner: {owner!r} is not an email address.") from None
        if Tenant.objects.filter(slug=slug).exists():
            raise CommandError(f"slug: a tenant {slug!r} exists already.")
        try:
            tenant, membership, token = create_tenant_with_owner(
                slug, owner, name=name, timezone=timezone, password=password
            )
        except ValidationError as exc:
            problems = "; ".join(
                f"{password_field if field == 'password' else field}: {' '.join(msgs)}"
                for field, msgs in exc.message_dict.items()
            )
            raise CommandError(problems) from None
        user = membership.user
        self.stdout.write(f"Created tenant {tenant.slug!r} with owner {owner}.")
        if password is not None:
            self.stdout.write(f"Password set from {password_field}; sign in as {user.get_username()} at:")
            self.stdout.write(links.sign_in_url())
        elif user.has_usable_password():
            # An existing account keeps its password; a reset link in this output would be a
            # way into it for anyone who reads the terminal or the CI log.
            self.stdout.write(f"{owner} has a password already; sign in as {user.get_username()} at:")
            self.stdout.write(links.sign_in_url())
        else:
            self.stdout.write(
                f"Sign-in link for the owner (opens once, for {links.link_lifetime()}, to choose a password):"
            )
            self.stdout.write(links.set_password_url(user))
        self.stdout.write("API token (shown once; send it as 'Authorization: Bearer <token>'):")
        self.stdout.write(token)
