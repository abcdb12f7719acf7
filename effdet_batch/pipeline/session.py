"""The job's Ray session, and what it asks of the cluster."""
from __future__ import annotations

import ray

__all__ = ["connect", "disconnect", "start_data_services", "cluster_gpus", "cluster_nodes", "node_cpus",
           "node_memory", "node_table", "nodes_lost"]


def connect(address: str | None, worker_env: dict[str, str] | None = None) -> bool:
    """Join the Ray cluster at `address` (or RAY_ADDRESS, or start a local one); `worker_env` is
    set in every worker (they read and write object storage themselves). True when this call
    connected, False when the process already was."""
    if ray.is_initialized():
        return False
    ray.init(address=address, logging_level="WARNING",
             runtime_env={"env_vars": worker_env} if worker_env else None)
    return True


def disconnect() -> None:
    """Leave Ray (and stop the local one this process started); its log lines stop with it."""
    ray.shutdown()


def start_data_services() -> None:
    """Start Ray Data's helper actors (stats, actor locations, autoscaling requests): detached,
    made by the first dataset run on a cluster and reused by every later job on it."""
    ray.data.range(1).materialize()


def cluster_gpus() -> int:
    return int(ray.cluster_resources().get("GPU", 0))


def cluster_nodes() -> int:
    return sum(1 for n in ray.nodes() if n["Alive"])


def node_cpus() -> int:
    """CPUs of the largest live node: what one node can give the actors placed on it."""
    return max(int(n["Resources"].get("CPU", 1)) for n in ray.nodes() if n["Alive"])


def node_memory() -> int | None:
    """Bytes of Ray's `memory` resource on the largest live node with CPUs, the most a CPU actor
    can reserve; None while there is none (an autoscaling cluster's head has no CPUs, and its
    workers are started for the actors)."""
    memory = [int(n["Resources"].get("memory", 0)) for n in ray.nodes()
              if n["Alive"] and n["Resources"].get("CPU", 0) > 0]
    return max(memory) if memory else None


def node_table() -> dict[str, bool]:
    """Every node Ray knows of, dead ones too: node id -> alive."""
    return {n["NodeID"]: n["Alive"] for n in ray.nodes()}


def nodes_lost(before: dict[str, bool]) -> list[dict[str, str]]:
    """The nodes, from Ray's node table, that were alive in `before` (a `node_table()` taken at
    the run's start) or joined since, and are dead now: id, address and Ray's reason."""
    return [{"node_id": n["NodeID"], "address": n["NodeManagerAddress"], "reason": n.get("DeathReasonMessage", "")}
            for n in ray.nodes() if not n["Alive"] and before.get(n["NodeID"], True)]
