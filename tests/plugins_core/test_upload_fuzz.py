"""Fuzzing the upload endpoint: random manifests and random archive entries never get a 5xx."""
import json

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tests.conftest import make_tar_gz, make_zip, plugin_files, upload

pytestmark = pytest.mark.django_db

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
manifest_keys = st.sampled_from(
    ["slug", "name", "version", "entry", "permissions", "routes", "events", "jobs", "config_schema",
     "hooks", "pricing", "id", "runtime", "allowed_domains", "description", "author"]
)
manifests = st.dictionaries(manifest_keys, json_values, max_size=10)
entry_names = st.text(alphabet="abc./\\-_ :\0é", min_size=1, max_size=30)
entries = st.dictionaries(entry_names, st.binary(max_size=200), max_size=6)

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@FUZZ
@given(manifest=manifests, use_tar=st.booleans())
def test_random_manifests_never_get_a_5xx(owner, manifest, use_tar):
    files = {**plugin_files("sbh-my-plugin"), "plugin.json": json.dumps(manifest).encode()}
    data = make_tar_gz(files) if use_tar else make_zip(files)
    response = upload(owner, data)
    assert response.status_code < 500
    assert response.status_code in (201, 400, 409)
    if response.status_code == 400:
        assert response.json()["error"]["details"]


@FUZZ
@given(extra=entries, raw=st.binary(max_size=300))
def test_random_archive_entries_and_bytes_never_get_a_5xx(owner, extra, raw):
    files = {**plugin_files("sbh-my-plugin"), **extra}
    try:  # names the archive libraries themselves cannot write are not interesting here
        archives = [make_zip(files), make_tar_gz({k.replace("\0", ""): v for k, v in files.items()})]
    except (IndexError, ValueError, OSError):
        archives = []
    assume(archives)
    for data in (*archives, raw):
        response = upload(owner, data)
        assert response.status_code < 500, response.content
