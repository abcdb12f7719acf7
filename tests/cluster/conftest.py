"""The hosts of the multi-host tests (tests/hosts.py): a Ray head, two workers and an S3 server,
each a network namespace of its own, and a lake of photos on that S3."""
import pytest

from tests.hosts import network, require_namespaces, start_s3

LAKE_IMAGES = 64


@pytest.fixture(scope="module")
def hosts():
    require_namespaces()
    with network({"head": 1, "w1": 2, "w2": 3, "s3": 10}) as hosts:
        yield hosts


@pytest.fixture(scope="module")
def lake(hosts, indoor85, tmp_path_factory):
    """LAKE_IMAGES photos in s3://lake/in/ on the S3 host; (its file system, its endpoint)."""
    import s3fs

    endpoint = start_s3(hosts["s3"], tmp_path_factory.mktemp("s3") / "moto.log")
    fs = s3fs.S3FileSystem(endpoint_url=endpoint, key="testing", secret="testing")
    fs.mkdir("lake")
    photos = sorted((indoor85 / "images").glob("*.jpg"))
    fs.pipe({f"lake/in/img{i:03d}.jpg": photos[i % len(photos)].read_bytes() for i in range(LAKE_IMAGES)})
    return fs, endpoint
