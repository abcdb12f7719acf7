"""The object-storage environment a run sets in its own process (`run.storage_environment`)."""
import uuid

import fsspec
import s3fs

from effdet_batch.loopback_s3 import LoopbackS3
from effdet_batch.pipeline.run import storage_environment
from tests.conftest import S3_CREDENTIALS


def test_runs_on_two_endpoints_in_one_process_each_reach_their_own(s3_server, monkeypatch):
    # A library user (or the benchmark, local then S3) runs jobs against two stores in one process:
    # fsspec's cached S3 filesystem of the first must not serve the second.
    for key, value in S3_CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with LoopbackS3(delay=0) as other:  # a second moto, in a process (and a store) of its own
        buckets = {other.endpoint: f"other-{uuid.uuid4().hex[:8]}", s3_server: f"session-{uuid.uuid4().hex[:8]}"}
        for endpoint, bucket in buckets.items():
            s3fs.S3FileSystem(endpoint_url=endpoint).mkdir(bucket)
        for endpoint, elsewhere in ((other.endpoint, s3_server), (s3_server, other.endpoint),
                                    (other.endpoint, s3_server)):
            with storage_environment(endpoint):
                fs, _ = fsspec.core.url_to_fs(f"s3://{buckets[endpoint]}")
                assert fs.exists(buckets[endpoint]) and not fs.exists(buckets[elsewhere]), endpoint
