"""Re-encrypt every plugin secret with the first key of PLUGYARD_FERNET_KEYS."""
from cryptography.fernet import InvalidToken
from django.core.management.base import BaseCommand, CommandError

from plugins_core.secrets import rotate_all


class Command(BaseCommand):
    help = (
        "Re-encrypt all secrets with the first key in PLUGYARD_FERNET_KEYS. Put the new key "
        "first, keep the old ones after it, run this, then remove the old keys."
    )

    def handle(self, *args, **options):
        try:
            count = rotate_all()
        except InvalidToken:
            raise CommandError(
                "A secret could not be decrypted with any configured key; nothing was changed. "
                "Keep the old key in PLUGYARD_FERNET_KEYS until rotation has run."
            ) from None
        self.stdout.write(f"Re-encrypted {count} secret(s) with the current key.")
