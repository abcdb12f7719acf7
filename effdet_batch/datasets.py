"""The job's Parquet output opened as one pyarrow dataset, local or in object storage."""
from __future__ import annotations

__all__ = ["open_dataset"]

# Schemes pyarrow reads with its own filesystems. Ray's writers leave "folder/" marker objects on
# S3, which s3fs seen through pyarrow lists as files that then cannot be opened.
_NATIVE = ("s3://", "gs://", "gcs://", "hdfs://", "file://")


def open_dataset(uri: str, partitioning: str | None = None):
    """A `pyarrow.dataset.Dataset` of the Parquet files under `uri` (a folder, prefix or file);
    `partitioning="hive"` adds `key=value` folder names as columns."""
    import pyarrow.dataset as pds

    if "://" not in uri or uri.startswith(_NATIVE):
        return pds.dataset(uri.rstrip("/"), format="parquet", partitioning=partitioning)
    import fsspec

    fs, root = fsspec.core.url_to_fs(uri)
    return pds.dataset(root, filesystem=fs, format="parquet", partitioning=partitioning)
