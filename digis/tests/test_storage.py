"""The production static storage (digis.storage): hashed URLs, remembered per process."""

import json

import pytest

from digis.storage import ManifestStaticFilesStorage


@pytest.fixture
def storage(tmp_path):
    manifest = {"version": "1.1", "hash": "h", "paths": {"css/app.css": "css/app.0123abcd.css"}}
    (tmp_path / "staticfiles.json").write_text(json.dumps(manifest))
    return ManifestStaticFilesStorage(location=str(tmp_path), base_url="/static/")


def test_a_name_is_resolved_once_and_answered_the_same_after(storage, monkeypatch):
    assert storage.url("css/app.css") == "/static/css/app.0123abcd.css"
    # The manifest changing under a running process is not a thing that happens (a deploy
    # restarts it); changing it here shows the second answer came from what was remembered.
    monkeypatch.setitem(storage.hashed_files, "css/app.css", "css/app.ffff.css")
    assert storage.url("css/app.css") == "/static/css/app.0123abcd.css"
    assert storage.url("css/app.css", force=True) == "/static/css/app.ffff.css"


def test_a_name_missing_from_the_manifest_raises_every_time(storage):
    for _ in range(2):
        with pytest.raises(ValueError, match="Missing staticfiles manifest entry"):
            storage.url("css/missing.css")
    assert "css/missing.css" not in storage._urls
