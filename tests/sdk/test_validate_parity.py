"""`plugyard validate` is the server's validator, offline: a corpus of broken packages gets the
same problems and warnings — the same (code, field) pairs — from the SDK (the CLI's path:
read, load locally, `plugyard_sdk.validation.validate` on the guides' catalog) and from
`POST /api/plugins/upload` (the sandbox's load report, the host's catalog)."""
from __future__ import annotations

import json
import re

import pytest
from plugyard_sdk._scan import SANDBOX_EXTRA_BUILTINS
from plugyard_sdk.validation import validate_archive

from tests.conftest import FIXTURE_PLUGINS, make_tar_gz, make_zip, upload

pytestmark = pytest.mark.django_db

OPS_YAML = (FIXTURE_PLUGINS / "ops-my-plugin" / "plugin.yaml").read_text()
OPS_MAIN = (FIXTURE_PLUGINS / "ops-my-plugin" / "main.py").read_text()
# The Ops-Center guide's main.py as printed: its plugin.yaml lists on_metrics_updated, which
# the guide's code never defines (the fixture adds it).
GUIDE_MAIN = re.sub(r'@plugin\.hook\("device\.metrics_updated"\).*?(?=\n# =====)', "", OPS_MAIN, flags=re.S)


def _sbh(code: str, **manifest: object) -> tuple[bytes, str]:
    document = {"slug": "corpus", "name": "Corpus", "version": "1.0.0", "entry": "main.py", "events": [],
                **manifest}
    return make_zip({"plugin.json": json.dumps(document).encode(), "main.py": code.encode()}), "corpus.zip"


def _ops(yaml_tail: str, code: str) -> tuple[bytes, str]:
    manifest = f"id: corpus\nname: Corpus\nversion: 1.0.0\nruntime:\n  entrypoint: main.py\n{yaml_tail}"
    files = {"plugin.yaml": manifest.encode(), "main.py": code.encode()}
    return make_tar_gz(files, top="corpus-1.0.0"), "corpus-1.0.0.tar.gz"


SBH_HOOK = "from src.ext.sdk import hook\n\n@hook({event!r})\ndef on_it(ctx, event_data):\n    return {{}}\n"
OPS_HEAD = "from ops_center_sdk import Plugin\nplugin = Plugin('corpus')\n\n"

CORPUS: dict[str, tuple[bytes, str]] = {
    "the Ops-Center guide as printed (on_metrics_updated missing)": (
        make_tar_gz({"plugin.yaml": OPS_YAML.encode(), "main.py": GUIDE_MAIN.encode()}, top="my-plugin-1.0.0"),
        "my-plugin-1.0.0.tar.gz"),
    "an unknown event, declared and hooked": _sbh(SBH_HOOK.format(event="build.complete"), events=["build.complete"]),
    "an unknown event in an Ops manifest": _ops("hooks:\n  - event: build.complete\n    handler: on_it\n",
                                                OPS_HEAD + "async def on_it(**kw):\n    pass\n"),
    "a hook handler missing from the code": _ops("hooks:\n  - event: device.created\n    handler: nowhere\n",
                                                 OPS_HEAD + "x = 1\n"),
    "a route handler missing from the code": _ops("routes:\n  - path: /status\n    methods: [GET]\n    handler: get_status\n",
                                                  OPS_HEAD + "x = 1\n"),
    "an unknown filter": _ops("", OPS_HEAD + "@plugin.filter_hook('device.nope')\nasync def f(value):\n    return value\n"),
    "a declared event nobody handles (warning)": _sbh("x = 1\n", events=["build.completed"]),
    "a hooked event the manifest does not declare (warning)": _sbh(SBH_HOOK.format(event="files.uploaded")),
    "an undefined name (warning)": _sbh(
        "from src.ext.sdk import route\n\n@route('/in', methods=['POST'])\ndef receive(ctx):\n"
        "    validate_signature(ctx.request)\n    return {'ok': datetime.now().isoformat()}\n", routes=True),
    "an import outside the sandbox's allowlist": _sbh("import os\nimport json\n"),
    "code that fails at import": _sbh("x = 1\nraise RuntimeError('no config')\n"),
    "a syntax error": _sbh("def broken(:\n    pass\n"),
}


def _pairs(items) -> set[tuple[str, str]]:
    return {(str(item["code"]), str(item["field"])) if isinstance(item, dict) else (item.code, item.field)
            for item in items}


@pytest.mark.parametrize("name", list(CORPUS))
def test_validate_and_the_upload_give_the_same_answer(owner, name: str) -> None:
    data, filename = CORPUS[name]
    _, offline = validate_archive(data, filename)

    response = upload(owner, data, filename)
    body = response.json()
    if response.status_code == 201:
        server_problems, server_warnings = [], body["warnings"]
    else:
        assert response.status_code == 400, body
        server_problems, server_warnings = body["error"]["details"], None

    assert _pairs(offline.problems) == _pairs(server_problems)
    assert (response.status_code == 201) == offline.ok
    if server_warnings is not None:  # a refused upload answers with its problems only
        assert _pairs(offline.warnings) == _pairs(server_warnings)
    assert offline.problems or offline.warnings, "each corpus entry is broken somehow"


def test_the_guides_missing_handler_is_named_on_both_sides() -> None:
    _, offline = validate_archive(*CORPUS["the Ops-Center guide as printed (on_metrics_updated missing)"])
    assert ("missing_handler", "hooks[1].handler") in _pairs(offline.problems)


def test_the_undefined_name_pass_knows_the_sandboxs_builtins() -> None:
    from plugins_core.sandbox.runtime import guard

    assert frozenset(guard._COMPAT_BUILTINS) == SANDBOX_EXTRA_BUILTINS
    _, offline = validate_archive(*CORPUS["an undefined name (warning)"])
    assert [w.field for w in offline.warnings if w.code == "undefined_name"] == ["main.py:5"]
