"""In-memory fakes of :class:`sender.leases.LeaseStore` and the keeper's consumer port."""

from __future__ import annotations

from pymongo.errors import ConnectionFailure

from sender.leases import Lease


class FakeLeaseStore:
    """The MongoDB adapter's semantics; ``down = True`` makes every call fail as a lost
    connection does. Many senders can share one instance (one database)."""

    def __init__(self) -> None:
        self.senders: dict[str, int] = {}
        self.stored: dict[int, Lease] = {}
        self.down = False
        self.acquires_left: int | None = None  # then the database goes away
        self.log: list[str] = []

    def _call(self) -> None:
        if self.down:
            raise ConnectionFailure("database away")

    async def heartbeat(self, sender: str, expires_ms: int) -> None:
        self._call()
        self.senders[sender] = expires_ms

    async def live_senders(self, now_ms: int) -> int:
        self._call()
        return sum(1 for expires in self.senders.values() if expires > now_ms)

    async def leases(self) -> list[Lease]:
        self._call()
        return list(self.stored.values())

    async def acquire(self, shard: int, sender: str, *, now_ms: int, expires_ms: int) -> bool:
        if self.acquires_left is not None:
            self.down = self.down or self.acquires_left == 0
            self.acquires_left -= 1
        self._call()
        lease = self.stored.get(shard)
        if lease is not None and lease.expires_ms > now_ms:
            return False
        self.stored[shard] = Lease(shard, sender, expires_ms)
        return True

    async def renew(self, shards: list[int], sender: str, *, now_ms: int,
                    expires_ms: int) -> None:
        self._call()
        for shard in shards:
            lease = self.stored.get(shard)
            if lease is not None and lease.owner == sender and lease.expires_ms > now_ms:
                self.stored[shard] = Lease(shard, sender, expires_ms)

    async def release(self, shard: int, sender: str) -> None:
        self._call()
        lease = self.stored.get(shard)
        if lease is not None and lease.owner == sender:
            self.stored[shard] = Lease(shard, None, 0)
            self.log.append(f"release {shard}")

    async def leave(self, sender: str) -> None:
        self._call()
        self.senders.pop(sender, None)

    def owners(self, now_ms: int) -> dict[int, str]:
        """Shard -> owner of every live lease."""
        return {s: lease.owner for s, lease in self.stored.items()
                if lease.owner is not None and lease.expires_ms > now_ms}


class FakeConsumers:
    """Records starts and stops into ``log`` (shared with the store to check their order)."""

    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.connected = True
        self.running: set[int] = set()

    async def start(self, shard: int) -> None:
        self.running.add(shard)
        self.log.append(f"start {shard}")

    async def stop(self, shard: int) -> None:
        self.running.discard(shard)
        self.log.append(f"stop {shard}")
