"""The job's first stage: a Ray Data datasource that turns the work list into work rows, one per image."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from ray.data import Datasource, ReadTask
from ray.data.block import BlockMetadata

from .readers import WORK_SCHEMA, ReadOptions, read_shards
from .sources import WorkList

__all__ = ["ShardDatasource", "FILES_PER_READ_TASK"]

FILES_PER_READ_TASK = 512
_ROW_OVERHEAD = 64  # Arrow offsets and validity of a work row, and a short error column


class ShardDatasource(Datasource):
    """Reads shards into work rows; a Read, so that Ray Data's checkpoint filter applies to it."""

    def __init__(self, shards: WorkList, options: ReadOptions) -> None:
        self.shards = shards
        self.options = options

    def estimate_inmemory_data_size(self) -> int | None:
        return _work_bytes(self.shards)

    def get_read_tasks(self, parallelism: int, per_task_row_limit: int | None = None, data_context=None):
        is_files = pc.equal(self.shards.table["kind"], "files").to_numpy(zero_copy_only=False)
        files, others = np.flatnonzero(is_files), np.flatnonzero(~is_files)
        # Image files are a row each, cheap to list: many per task. Every other shard is real
        # reading, and gets a task to itself up to the parallelism Ray asks for.
        groups = _split(files, max(1, min(parallelism, -(-len(files) // FILES_PER_READ_TASK))))
        groups += _split(others, max(1, min(parallelism, len(others))))
        options = self.options
        tasks = []
        for rows in groups:
            if not len(rows):
                continue
            part = self.shards.take(rows)
            images = bool(is_files[rows[0]])  # a group is all image files or all other shards
            tasks.append(ReadTask(
                lambda part=part: read_shards(part, options),
                # A task of image files names none of them: their URIs are its rows, and a Python
                # string for each of a million images is what the work list avoids on the driver.
                BlockMetadata(num_rows=len(part) if images else None, size_bytes=_work_bytes(part), exec_stats=None,
                              input_files=None if images else tuple(part.table["uri"].to_pylist())),
                schema=WORK_SCHEMA,
                per_task_row_limit=per_task_row_limit,
            ))
        return tasks


def _split(rows: np.ndarray, count: int) -> list[np.ndarray]:
    return [rows[i * len(rows) // count:(i + 1) * len(rows) // count] for i in range(count)]


def _work_bytes(shards: WorkList) -> int | None:
    """Bytes of the work rows these shards become, so that Ray Data can budget memory: a file is a
    row of its URIs (its bytes are fetched where it is decoded); a tar or Parquet shard's rows carry
    its images' bytes, about its size. None where it cannot be known before reading (a manifest)."""
    table = shards.table
    kind = table["kind"]
    uri_row = pc.add(pc.multiply(pc.binary_length(table["uri"]).cast(pa.int64()), 2), _ROW_OVERHEAD)
    shard_bytes = pc.if_else(pc.is_in(kind, value_set=pa.array(["tar", "parquet"])), table["size"],
                             pa.scalar(None, pa.int64()))
    per_row = pc.if_else(pc.equal(kind, "files"), uri_row, shard_bytes)
    return None if per_row.null_count else pc.sum(per_row).as_py() or 0
