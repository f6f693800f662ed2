"""`plugyard publish` against a real server: the tenant comes from the token (`GET /api/me`),
the server's warnings are printed, errors are `field: message [code]` lines, and a wrong
base URL is a sentence, not a web page."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from plugyard_sdk.cli import main
from rest_framework.test import APIClient

from tests.conftest import FIXTURE_PLUGINS

# ------------------------------------------------------------------ GET /api/me


@pytest.mark.django_db
def test_me_names_the_tokens_tenant_and_role_without_the_tenant_header(owner, make_actor) -> None:
    make_actor("globex", "owner")  # another tenant the same person could belong to
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {owner.token}")
    answer = client.get("/api/me")
    assert answer.status_code == 200, answer.json()
    body = answer.json()
    assert (body["tenant"], body["role"], body["tenants"]) == ("acme", "owner", ["acme"])
    assert body["user"]["email"] == owner.membership.user.email


@pytest.mark.django_db
def test_me_checks_a_tenant_header_when_one_is_sent_and_needs_a_token(owner) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {owner.token}", HTTP_X_TENANT_SLUG="globex")
    assert client.get("/api/me").status_code == 401
    assert APIClient().get("/api/me").status_code in (401, 403)
    assert owner.client.get("/api/me").json()["tenant"] == "acme"


@pytest.mark.django_db
def test_me_is_in_the_openapi_schema(client) -> None:
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    me = schema["paths"]["/api/me"]["get"]
    assert set(me["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].split("/")[-1:]) == {"Me"}


# ------------------------------------------------------------------ publish, end to end


@pytest.fixture
def plugin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    target = tmp_path / "sbh-my-plugin"
    shutil.copytree(FIXTURE_PLUGINS / "sbh-my-plugin", target)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PLUGYARD_TENANT", raising=False)
    return target


@pytest.mark.django_db(transaction=True)
def test_publish_as_the_guide_prints_it_finds_the_tenant_and_prints_warnings(
    live_server, owner, plugin_dir, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("OPS_CENTER_API_URL", live_server.url)
    monkeypatch.setenv("OPS_CENTER_API_KEY", owner.token)
    assert main(["publish", str(plugin_dir)]) == 0, capsys.readouterr().err
    out, err = capsys.readouterr()
    assert "for tenant acme" in out
    assert "warning: events: 'build.completed' is declared but no handler subscribes to it. [unhandled_event]" in out
    assert owner.token not in out + err


@pytest.mark.django_db(transaction=True)
def test_publish_renders_the_servers_refusal_as_lines(live_server, owner, plugin_dir, monkeypatch, capsys) -> None:
    monkeypatch.setenv("OPS_CENTER_API_URL", live_server.url)
    monkeypatch.setenv("OPS_CENTER_API_KEY", owner.token)
    assert main(["publish", str(plugin_dir)]) == 0
    capsys.readouterr()
    assert main(["publish", str(plugin_dir)]) == 1  # the same version twice
    err = capsys.readouterr().err
    assert "HTTP 409" in err and "version: This version exists. [version_exists]" in err
    assert "{" not in err


@pytest.mark.django_db(transaction=True)
def test_a_tenant_the_token_does_not_belong_to_names_plugyard_tenant(
    live_server, owner, plugin_dir, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("OPS_CENTER_API_URL", live_server.url)
    monkeypatch.setenv("OPS_CENTER_API_KEY", owner.token)
    monkeypatch.setenv("PLUGYARD_TENANT", "globex")
    assert main(["publish", str(plugin_dir)]) == 1
    err = capsys.readouterr().err
    assert "HTTP 401" in err and "PLUGYARD_TENANT" in err


@pytest.mark.django_db(transaction=True)
def test_a_base_url_ending_in_api_or_answering_html_is_a_sentence(
    live_server, owner, plugin_dir, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("OPS_CENTER_API_KEY", owner.token)
    monkeypatch.setenv("OPS_CENTER_API_URL", f"{live_server.url}/api/")
    assert main(["publish", str(plugin_dir)]) == 2
    assert f"use '{live_server.url}'" in capsys.readouterr().err
    monkeypatch.setenv("OPS_CENTER_API_URL", f"{live_server.url}/nothing-here")
    assert main(["publish", str(plugin_dir)]) == 1
    err = capsys.readouterr().err
    assert "with a web page, not the Plugyard API" in err and "OPS_CENTER_API_URL" in err
    assert "<" not in err
