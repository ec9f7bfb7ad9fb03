"""Which replica serves an element instance: a stable hash of its key, modulo the replicas.

Discovery keeps only this replica's instances; the scheduler (a layer above) uses it too. It
imports nothing of the package, so it sits at the bottom of the package's own layers.
"""

from __future__ import annotations

import hashlib


def shard_of(element_instance_key: int, shard_count: int) -> int:
    """Stable shard of an element instance key: same answer on every replica and restart."""
    digest = hashlib.blake2b(str(element_instance_key).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % shard_count


def owns(element_instance_key: int, shard_index: int, shard_count: int) -> bool:
    """Whether shard ``shard_index`` serves the instance. An index at or beyond the count
    (a StatefulSet pod being removed by a scale-down) serves nothing."""
    if shard_count <= 1:
        return shard_index == 0
    return shard_of(element_instance_key, shard_count) == shard_index
