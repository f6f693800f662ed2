"""Demo data for `make run`: a local superuser, a demo tenant with a token, the example plugins.

Idempotent: a second run finds everything in place and only prints where to go. The
local credentials are generated once and kept in var/demo.json (mode 0600), because the
database keeps only hashes of them.
"""
from __future__ import annotations

import io
import json
import os
import secrets
import zipfile
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from marketplace.models import Listing, ListingStatus
from plugins_core import services
from plugins_core.errors import NotReady, PluginConflict
from plugins_core.models import Installation
from plugins_core.sandbox import SandboxClient
from plugins_core.sandbox.service import ensure_running
from plugins_core.sandboxes import policy as sandbox_policy
from tenants.models import ApiToken, Membership, Role, Tenant
from tenants.services import create_tenant_with_owner

EXAMPLES = Path(settings.BASE_DIR) / "examples" / "plugins"


def _zip_dir(root: Path) -> bytes:
    """The example as a package: its own ``tests/`` stay behind, as ``plugyard build`` leaves them."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(root.rglob("*")):
            relative = path.relative_to(root)
            if path.is_file() and "__pycache__" not in relative.parts and relative.parts[0] != "tests":
                archive.write(path, relative.as_posix())
    return buffer.getvalue()


_HOW_TO_ADD = {
    "namespaces": "sudo apt-get install bubblewrap",
    "seccomp": "sudo apt-get install libseccomp2",
}


def _sandbox_lines(layers: dict[str, bool], notes: dict[str, str]) -> list[str]:
    """The banner's word on the sandbox: every layer on, or which is missing and how to add it."""
    missing = [name for name, active in layers.items() if not active]
    if not missing:
        return ["  sandbox       every isolation layer active (manage.py sandbox_check for details)"]
    lines = [f"  sandbox       MISSING layer(s): {', '.join(missing)} — plugin code runs with less isolation"]
    for name in missing:
        fix = _HOW_TO_ADD.get(name)
        lines.append(f"                {name}: {notes.get(name, 'unavailable')}" + (f"; add it with: {fix}" if fix else ""))
    return lines


class Command(BaseCommand):
    help = "Create the demo tenant, a local superuser and the example plugins (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--port", default=os.environ.get("PORT", "8000"))

    def handle(self, *args, port, **options):
        state_path = Path(settings.VAR_DIR) / "demo.json"
        state = json.loads(state_path.read_text()) if state_path.exists() else {}
        with transaction.atomic():
            state.update(self._superuser(state))
            tenant, token = self._tenant(state)
            state["token"] = token
            # The local admin also owns the demo tenant, so the marketplace pages work for them.
            Membership.objects.get_or_create(
                user=get_user_model().objects.get(username="admin"), tenant=tenant, defaults={"role": Role.OWNER}
            )
        state_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(state_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(state, handle)
        policy = sandbox_policy()
        with ensure_running(policy.socket_path, policy):  # sandboxd starts after this command
            self._examples(tenant)
            status = SandboxClient(policy).status()
        base = f"http://127.0.0.1:{port}"
        self.stdout.write(
            "\n".join(
                [
                    "",
                    "Plugyard is starting:",
                    f"  marketplace   {base}/",
                    f"  admin         {base}/admin/   (user: admin, password: {state['admin_password']})",
                    f"  API docs      {base}/api/docs/",
                    "  demo tenant   X-Tenant-Slug: demo",
                    f"  demo token    Authorization: Bearer {state['token']}",
                    *_sandbox_lines(status.get("layers") or {}, status.get("notes") or {}),
                    "",
                ]
            )
        )

    def _superuser(self, state: dict) -> dict:
        User = get_user_model()
        password = state.get("admin_password") or secrets.token_urlsafe(12)
        user = User.objects.filter(username="admin").first()
        if user is None:
            User.objects.create_superuser("admin", "admin@localhost", password)
        elif not user.check_password(password):
            user.set_password(password)
            user.save(update_fields=["password"])
        return {"admin_password": password}

    def _tenant(self, state: dict) -> tuple[Tenant, str]:
        tenant = Tenant.objects.filter(slug="demo").first()
        if tenant is None:
            tenant, _, token = create_tenant_with_owner("demo", "demo@example.com", name="Demo Company")
            return tenant, token
        token = state.get("token")
        if token and ApiToken.find(token) is not None:
            return tenant, token
        membership = Membership.objects.get(tenant=tenant, role=Role.OWNER, user__email="demo@example.com")
        _, token = ApiToken.issue(membership, name="make run")
        return tenant, token

    def _examples(self, tenant: Tenant) -> None:
        owner = Membership.objects.filter(tenant=tenant, role=Role.OWNER).first()
        for root in sorted(path for path in EXAMPLES.iterdir() if path.is_dir()):
            try:
                result = services.upload_package(tenant, owner.user if owner else None, _zip_dir(root), f"{root.name}.zip")
                installation = result.installation
            except PluginConflict:
                installation = Installation.objects.for_tenant(tenant).filter(plugin__slug=root.name).first()
            if installation is not None and not installation.enabled:
                try:
                    services.enable(installation)
                except NotReady as waiting:  # slack-notifier needs its webhook URL first
                    fields = ", ".join(d["field"] for d in waiting.details)
                    self.stdout.write(f"  {root.name}: installed, enable it once these are set: {fields}")
            Listing.objects.filter(plugin__slug=root.name).update(status=ListingStatus.PUBLISHED)
