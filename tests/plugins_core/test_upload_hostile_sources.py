"""Uploads built to hurt the web process: a source too big to parse, one that blows up the parser.

Given such an archive through the API, then a 400 names the file and the problem, nothing
is stored, and the request waited at most the load budget (the scan runs in a child
process under a memory limit; see sdk/plugyard_sdk/_scan.py and its own tests for the
memory figures).
"""
import random

import pytest

from tests.conftest import make_zip, plugin_files, upload
from tests.plugins_core.test_upload import nothing_stored

pytestmark = pytest.mark.django_db


def _with(extra: dict[str, bytes]) -> bytes:
    return make_zip({**plugin_files("sbh-my-plugin"), **extra})


def _operator_chain(size: int) -> bytes:
    """`x = 1+7+3+…`: a few hundred kB of it makes an in-process parser grow by hundreds of MB.
    Random digits keep it past the archive's compression-ratio check, as an attacker would."""
    rng = random.Random(8)
    return b"x = " + b"+".join(str(rng.randrange(10)).encode() for _ in range(size // 2)) + b"\n"


def _problems(response) -> dict[str, str]:
    assert response.status_code == 400, response.content
    return {d["field"]: d["code"] for d in response.json()["error"]["details"]}


def test_a_source_file_over_the_size_limit_is_refused_unparsed(owner, settings):
    rng = random.Random(3)
    lines = (f"v{n} = {rng.getrandbits(64)}\n" for n in range(14_000))  # ~330 kB, little to compress
    problems = _problems(upload(owner, _with({"huge.py": "".join(lines).encode()})))
    assert problems.get("huge.py") == "code_too_large"
    assert nothing_stored(settings)


def test_a_source_built_to_exhaust_the_parser_is_refused_by_name(owner, settings):
    problems = _problems(upload(owner, _with({"bomb.py": _operator_chain(240_000)})))
    assert problems.get("bomb.py") == "code_too_complex"
    assert nothing_stored(settings)
