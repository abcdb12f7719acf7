"""The URI helpers: one credential scrubber for URIs and for free text, one join."""
import pytest

from effdet_batch.errors import first_line
from effdet_batch.uri import join, redact

SECRET_URIS = [
    ("s3://AKIA:secret@lake/photos/a.jpg", "s3://lake/photos/a.jpg"),
    ("https://host:8443/w.pth?X-Amz-Signature=abc&X-Amz-Credential=k", "https://host:8443/w.pth"),
    ("https://user:pw@host/w.pth?sig=1", "https://host/w.pth"),
]


@pytest.mark.parametrize("uri, clean", SECRET_URIS)
def test_a_uri_and_an_error_naming_it_lose_the_same_credentials(uri, clean):
    assert redact(uri) == clean
    assert first_line(OSError(f"cannot open {uri} (403)")) == f"cannot open {clean} (403)"


def test_redact_keeps_what_is_not_a_credential():
    assert redact("s3://lake/tar/shard-0.tar#img 1.jpg") == "s3://lake/tar/shard-0.tar#img 1.jpg"
    assert redact("/data/photos/a?.jpg") == "/data/photos/a?.jpg"  # a local name, not a query


@pytest.mark.parametrize("prefix", ["s3://out", "s3://out/", "/tmp/out", "/tmp/out/"])
def test_join_adds_exactly_one_separator(prefix):
    assert join(prefix, "_state", "state.parquet") == prefix.rstrip("/") + "/_state/state.parquet"
