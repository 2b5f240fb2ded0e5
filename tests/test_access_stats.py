"""Access statistics: written off the read path, coalesced, and counted once per recall."""

from __future__ import annotations

from pathlib import Path

from memmimic_core.engine import MemMimic

from .conftest import model_free_config


def test_each_recall_counts_once_even_when_writes_are_coalesced(tmp_path: Path) -> None:
    with MemMimic(model_free_config(tmp_path)) as m:
        kiwi = m.remember("kiwi orchards along the river")
        plum = m.remember("plum jam recipe from grandmother")
        returned: list[str] = []
        for query in ("kiwi orchards", "kiwi orchards", "kiwi orchards", "plum jam"):
            hits = m.recall(query)  # cache off: each recall is a new one
            returned += [h.id for h in hits]
        assert returned.count(kiwi) >= 3 and returned.count(plum) >= 1
        token = m.storage.change_token()
        assert m.get(kiwi).access_count == 0  # not yet written: one transaction for the window
        assert m.storage.change_token() == token  # so recalls do not move the change token
    with MemMimic(model_free_config(tmp_path)) as m:  # close wrote what was queued
        assert m.get(kiwi).access_count == returned.count(kiwi)
        assert m.get(plum).access_count == returned.count(plum)
        assert m.get(kiwi).last_accessed_at is not None
