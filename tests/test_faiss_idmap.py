"""The FAISS shards' compact rowid → memory id map behaves like the dict it replaces."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memmimic_plugins.faiss_index.idmap import IdMap

_ops = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.lists(st.integers(0, 60), max_size=8)),
        st.tuples(st.just("del"), st.lists(st.integers(0, 60), max_size=8)),
        st.tuples(st.just("fold"), st.just([])),
    ),
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(_ops)
def test_matches_a_dict_through_adds_replacements_deletes_and_folds(ops: list[tuple[str, list[int]]]) -> None:
    model: dict[int, str] = {}
    ids = IdMap()
    for step, (op, rowids) in enumerate(ops):
        if op == "add":
            pairs = [(r, f"mem_{r}_{step}_é") for r in rowids]  # replacements get a new id; non-ASCII too
            model.update(pairs)
            ids.update(pairs)
        elif op == "del":
            for r in rowids:
                if r in model:
                    del model[r]
                    del ids[r]
                else:
                    with pytest.raises(KeyError):
                        del ids[r]
        else:
            ids._fold()
        assert len(ids) == len(model)
        assert sorted(ids.keys()) == sorted(model)
        assert all(r in ids and ids[r] == m for r, m in model.items())
        assert dict(zip(ids.keys(), ids.values(), strict=True)) == model
        assert all(r not in ids for r in range(61) if r not in model)
        assert ids.lookup(range(61)) == [model.get(r) for r in range(61)]
        assert ids.contains_many(range(61)) == [r in model for r in range(61)]
    rowids, memory_ids = ids.to_arrays()
    assert memory_ids.dtype.kind == "U"
    again = IdMap.from_arrays(rowids, memory_ids)
    assert dict(zip(again.keys(), again.values(), strict=True)) == model


def test_large_batches_fold_into_the_arrays() -> None:
    ids = IdMap()
    ids.update((r, f"mem_{r:024x}") for r in range(5000))
    assert not ids._extra and len(ids._rowids) == 5000  # folded: no dict of 5,000 entries kept
    assert ids[4321] == f"mem_{4321:024x}" and 5000 not in ids and "7" not in ids
    assert ids.get(99999) is None


def test_duplicate_rowids_in_a_snapshot_are_refused() -> None:
    with pytest.raises(ValueError):
        IdMap.from_arrays(np.array([3, 3]), np.array(["a", "b"]))
