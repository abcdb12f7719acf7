"""The job's first stage: a Ray Data datasource that turns shards into work rows, one per image."""
from __future__ import annotations

from ray.data import Datasource, ReadTask
from ray.data.block import BlockMetadata

from .readers import WORK_SCHEMA, ReadOptions, read_shards
from .sources import Shard

__all__ = ["ShardDatasource", "FILES_PER_READ_TASK"]

FILES_PER_READ_TASK = 512
_ROW_OVERHEAD = 64  # Arrow offsets and validity of a work row, and a short error column


class ShardDatasource(Datasource):
    """Reads shards into work rows; a Read, so that Ray Data's checkpoint filter applies to it."""

    def __init__(self, shards: list[Shard], options: ReadOptions) -> None:
        self.shards = shards
        self.options = options

    def estimate_inmemory_data_size(self) -> int | None:
        sizes = [_work_bytes([s]) for s in self.shards]
        return None if None in sizes else sum(sizes)

    def get_read_tasks(self, parallelism: int, per_task_row_limit: int | None = None, data_context=None):
        files = [s for s in self.shards if s.kind == "files"]
        others = [s for s in self.shards if s.kind != "files"]
        # Image files are a row each, cheap to list: many per task. Every other shard is real
        # reading, and gets a task to itself up to the parallelism Ray asks for.
        groups = _split(files, max(1, min(parallelism, -(-len(files) // FILES_PER_READ_TASK))))
        groups += _split(others, max(1, min(parallelism, len(others))))
        options = self.options
        return [
            ReadTask(
                lambda part=part: read_shards(part, options),
                BlockMetadata(num_rows=len(part) if part[0].kind == "files" else None, size_bytes=_work_bytes(part),
                              exec_stats=None, input_files=tuple(s.uri for s in part)),
                schema=WORK_SCHEMA,
                per_task_row_limit=per_task_row_limit,
            )
            for part in groups
            if part
        ]


def _split(items: list, count: int) -> list[list]:
    return [items[i * len(items) // count:(i + 1) * len(items) // count] for i in range(count)]


def _work_bytes(shards: list[Shard]) -> int | None:
    """Bytes of the work rows these shards become, so that Ray Data can budget memory: a file is a
    row of its URIs (its bytes are fetched where it is decoded); a tar or Parquet shard's rows carry
    its images' bytes, about its size. None where it cannot be known before reading (a manifest)."""
    total = 0
    for shard in shards:
        if shard.kind == "files":
            total += _ROW_OVERHEAD + 2 * len(shard.uri)
        elif shard.kind in ("tar", "parquet") and shard.size is not None:
            total += shard.size
        else:
            return None
    return total
