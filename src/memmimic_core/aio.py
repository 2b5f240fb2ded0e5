"""``AsyncMemMimic``: the same API as coroutines; blocking work runs in worker threads."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ParamSpec, TypeVar

from .engine import ConfigSource, MemMimic
from .models import HistoryEntry, Hit, Memory

__all__ = ["AsyncMemMimic"]

P = ParamSpec("P")
R = TypeVar("R")


class AsyncMemMimic:
    """Async twin of :class:`MemMimic`; never blocks the event loop.

    Open it with ``async with AsyncMemMimic(config) as memory:`` (or ``await .open()``).
    """

    def __init__(self, config: ConfigSource = None, *, plugins: Iterable[object] = ()) -> None:
        self._config = config
        self._plugins = tuple(plugins)
        self._sync: MemMimic | None = None

    async def open(self) -> AsyncMemMimic:
        """Open the store (in a worker thread: opening may migrate and catch up indexes)."""
        if self._sync is None:
            self._sync = await asyncio.to_thread(MemMimic, self._config, plugins=self._plugins)
        return self

    @property
    def sync(self) -> MemMimic:
        """The underlying synchronous store."""
        if self._sync is None:
            raise RuntimeError("AsyncMemMimic is not open; use `async with` or `await .open()`")
        return self._sync

    async def _run(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        return await asyncio.to_thread(functools.partial(fn, *args, **kwargs))

    async def remember(self, content: str, **kwargs: Any) -> str:
        """See :meth:`MemMimic.remember`."""
        return await self._run(self.sync.remember, content, **kwargs)

    async def remember_many(self, items: Iterable[Mapping[str, Any] | str], **kwargs: Any) -> list[str]:
        """See :meth:`MemMimic.remember_many`."""
        return await self._run(self.sync.remember_many, list(items), **kwargs)

    async def recall(self, query: str, limit: int = 10, **kwargs: Any) -> list[Hit]:
        """See :meth:`MemMimic.recall`."""
        return await self._run(self.sync.recall, query, limit, **kwargs)

    async def get(self, memory_id: str, **kwargs: Any) -> Memory:
        """See :meth:`MemMimic.get`."""
        return await self._run(self.sync.get, memory_id, **kwargs)

    async def update(self, memory_id: str, **kwargs: Any) -> Memory:
        """See :meth:`MemMimic.update`."""
        return await self._run(self.sync.update, memory_id, **kwargs)

    async def forget(self, memory_id: str, **kwargs: Any) -> None:
        """See :meth:`MemMimic.forget`."""
        await self._run(self.sync.forget, memory_id, **kwargs)

    async def history(self, memory_id: str, **kwargs: Any) -> list[HistoryEntry]:
        """See :meth:`MemMimic.history`."""
        return await self._run(self.sync.history, memory_id, **kwargs)

    async def status(self) -> dict[str, Any]:
        """See :meth:`MemMimic.status`."""
        return await self._run(self.sync.status)

    async def close(self) -> None:
        """Flush and close the store."""
        if self._sync is not None:
            await asyncio.to_thread(self._sync.close)
            self._sync = None

    async def __aenter__(self) -> AsyncMemMimic:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
