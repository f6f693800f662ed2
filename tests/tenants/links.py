"""Helpers for tests that follow set-password links the way a browser does."""
from __future__ import annotations

import re

BASE = "http://127.0.0.1:8000"
GOOD_PASSWORD = "a-long-Fresh-passphrase-9"


def link_in(text: str) -> str:
    """The one set-password link in ``text`` (command output or an email body)."""
    found = re.findall(r"https?://\S+/accounts/set-password/\S+", text)
    assert len(found) == 1, text
    return found[0]


def path_of(link: str) -> str:
    assert link.startswith(BASE), link
    return link.removeprefix(BASE)


def open_link(client, link: str):
    """GET the link; a good one redirects to the form (the token moves into the session)."""
    return client.get(path_of(link))


def choose_password(client, link: str, password: str = GOOD_PASSWORD, again: str | None = None):
    landing = open_link(client, link)
    if landing.status_code != 302:
        return landing
    form_url = landing["Location"]
    assert client.get(form_url).status_code == 200
    return client.post(form_url, {"new_password1": password, "new_password2": password if again is None else again})
