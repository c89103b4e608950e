"""A tiny TCP proxy between Relay's services and RabbitMQ that a test can stall.

It runs its own event loop on a thread, so a test that blocks (``Stack.start`` waits
synchronously) never stalls the traffic by accident. :meth:`StallableProxy.pause` stops moving
bytes in both directions while keeping every connection open: to the services the broker looks
alive but silent, as on a congested or partitioned network. :meth:`resume` lets the bytes flow
again; :meth:`cut` closes every connection (a hard network failure).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading

from relay.embedded import free_port

CHUNK = 65536


class StallableProxy:
    """``127.0.0.1:<port>`` → ``target_host:target_port``, with a switch for the bytes."""

    def __init__(self, target_host: str = "127.0.0.1", target_port: int = 5672) -> None:
        self.port = free_port()
        self._target = (target_host, target_port)
        self._loop = asyncio.new_event_loop()
        self._flowing: asyncio.Event | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.AbstractServer | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name="chaos-proxy")
        self.connections = 0

    def start(self) -> None:
        self._thread.start()
        self._call(self._start())

    def _call(self, coro: object, timeout: float = 10.0) -> object:
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)  # type: ignore[arg-type]
        return future.result(timeout)

    async def _start(self) -> None:
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer),
                             return_exceptions=True)
        for end in (writer, up_writer):
            self._writers.discard(end)
            with contextlib.suppress(Exception):
                end.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert self._flowing is not None
        try:
            while data := await reader.read(CHUNK):
                await self._flowing.wait()
                writer.write(data)
                await writer.drain()
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    def pause(self) -> None:
        """Stop moving bytes (connections stay open)."""
        self._loop.call_soon_threadsafe(self._flowing.clear)  # type: ignore[union-attr]

    def resume(self) -> None:
        self._loop.call_soon_threadsafe(self._flowing.set)  # type: ignore[union-attr]

    def cut(self) -> None:
        """Close every proxied connection at once."""

        def close_all() -> None:
            for writer in list(self._writers):
                writer.close()

        self._loop.call_soon_threadsafe(close_all)

    def url(self, vhost: str) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/{vhost}"

    def stop(self) -> None:
        self.resume()
        self.cut()

        async def close() -> None:
            if self._server is not None:
                self._server.close()

        with contextlib.suppress(Exception):
            self._call(close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
