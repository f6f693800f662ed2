"""Links people follow to sign in: the one-time set-password link and the sign-in page.

A set-password link is Django's password-reset token (``default_token_generator``) for the
user's uid: it stops working once a password is set or the user signs in (both change what
the token hashes) and after ``PASSWORD_RESET_TIMEOUT``. Absolute links start with
``PLUGYARD_BASE_URL``, never a request's Host header, so a forged Host cannot make us mail
someone a link to another site (the password-reset poisoning attack).
"""
from __future__ import annotations

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.tokens import default_token_generator
from django.shortcuts import resolve_url
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

__all__ = ["absolute_url", "link_lifetime", "set_password_url", "sign_in_url"]

DEFAULT_BASE_URL = "http://127.0.0.1:8000"


def absolute_url(path: str) -> str:
    base = getattr(settings, "PLUGYARD_BASE_URL", "") or DEFAULT_BASE_URL
    return base.rstrip("/") + path


def set_password_url(user: AbstractBaseUser) -> str:
    """A link that lets ``user`` choose a password once; it signs them in."""
    uidb64 = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    return absolute_url(reverse("tenants:set-password", kwargs={"uidb64": uidb64, "token": token}))


def sign_in_url() -> str:
    return absolute_url(resolve_url(settings.LOGIN_URL))


def link_lifetime() -> str:
    """How long a set-password link works, in words ("3 days", "2 hours", "90 seconds")."""
    seconds = int(settings.PASSWORD_RESET_TIMEOUT)
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} seconds"
