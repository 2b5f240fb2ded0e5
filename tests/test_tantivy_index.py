"""The ``tantivy`` text index: the text-index contract plus its own derived-index behaviour."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memmimic_core.errors import ConfigError
from memmimic_core.models import Filters, MemoryPatch, NewMemory, TextQuery, WeightedTerm
from memmimic_core.plugins import Backends
from memmimic_core.protocols import BackendContext, Storage
from memmimic_core.testing.text_index import TextIndexContract

pytest.importorskip("tantivy")


class TestTantivyContract(TextIndexContract):
    """Writes made after the index opened are mostly answered by the in-memory tail."""

    backend_name: ClassVar[str] = "tantivy"


class TestTantivyContractCommitted(TextIndexContract):
    """The same contract with every sync committing (no tail): the on-disk index answers."""

    backend_name: ClassVar[str] = "tantivy"
    backend_options: ClassVar[dict[str, Any]] = {"max_tail": 0}


MakeIndex = Callable[..., Any]


@pytest.fixture
def make_index(
    memmimic_backends: Backends, backend_context: BackendContext, storage: Storage
) -> Iterator[MakeIndex]:
    """Build tantivy indexes on the test's storage, closing them at teardown."""
    made: list[Any] = []

    def make(**options: Any) -> Any:
        made.append(memmimic_backends["text_index"].create("tantivy", options, backend_context, "text_index"))
        return made[-1]

    yield make
    for index in made:
        index.close()


def add(storage: Storage, namespace: str, *contents: str, **fields: Any) -> list[str]:
    return [
        m.id for m in storage.add([NewMemory(namespace=namespace, content=c, **fields) for c in contents])
    ]


def found(index: Any, namespace: str, text: str = "", limit: int = 10, **kw: Any) -> list[str]:
    filters = kw.pop("filters", None)
    return [c.memory_id for c in index.search(namespace, TextQuery(text=text, **kw), limit, filters)]


# -- registration and options ----------------------------------------------------------------


def test_importing_the_plugin_does_not_import_tantivy() -> None:
    code = "import sys, memmimic_plugins.tantivy_index; print('tantivy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_is_registered_as_tantivy(memmimic_backends: Backends) -> None:
    assert "tantivy" in memmimic_backends["text_index"].names


@pytest.mark.parametrize(
    "options",
    [{"tokenizer": "klingon"}, {"stopwords": "klingon"}, {"heap_size_mb": 1}, {"colour": "red"}],
    ids=["tokenizer", "stopwords", "heap", "unknown-key"],
)
def test_bad_options_are_config_errors(
    memmimic_backends: Backends, backend_context: BackendContext, storage: Storage, options: dict[str, Any]
) -> None:
    with pytest.raises(ConfigError, match="text_index"):
        memmimic_backends["text_index"].create("tantivy", options, backend_context, "text_index")


# -- derived: catching up and rebuilding -----------------------------------------------------


def test_writes_made_while_closed_are_caught_up_on_open(storage: Storage, make_index: MakeIndex) -> None:
    index = make_index(sync_on_search=False)
    (first,) = add(storage, "ns", "an early giraffe")
    index.sync()
    index.close()
    (later,) = add(storage, "ns", "a later giraffe")
    reopened = make_index(sync_on_search=False)
    assert reopened.lag() == 0
    assert sorted(found(reopened, "ns", "giraffe")) == sorted([first, later])


def test_lag_counts_unapplied_changes(storage: Storage, make_index: MakeIndex) -> None:
    index = make_index(sync_on_search=False)
    (mid,) = add(storage, "ns", "one")
    add(storage, "ns", "two", "three")
    storage.delete(mid, "ns")
    assert index.lag() == 4
    assert index.sync() == 4
    assert index.lag() == 0


def test_a_deleted_folder_is_rebuilt_from_storage(
    storage: Storage, make_index: MakeIndex, backend_context: BackendContext
) -> None:
    ids = add(storage, "ns", "penguin one", "penguin two", "penguin three")
    index = make_index()
    assert len(found(index, "ns", "penguin")) == 3
    shutil.rmtree(backend_context.data_dir / "tantivy")
    assert index.lag() == storage.last_seq()
    assert sorted(found(index, "ns", "penguin")) == sorted(ids)
    assert index.stats()["documents"] == 3


def test_a_damaged_index_is_rebuilt(
    storage: Storage, make_index: MakeIndex, backend_context: BackendContext
) -> None:
    ids = add(storage, "ns", "walrus one", "walrus two")
    make_index().close()
    (backend_context.data_dir / "tantivy" / "meta.json").write_text("{ not json", encoding="utf-8")
    assert sorted(found(make_index(), "ns", "walrus")) == sorted(ids)


def test_replaying_changes_twice_is_harmless(
    storage: Storage, make_index: MakeIndex, backend_context: BackendContext
) -> None:
    """A crash after the index commit but before its state file is written replays changes."""
    (mid,) = add(storage, "ns", "otter")
    index = make_index()
    add(storage, "ns", "otter again", "another otter")
    storage.update(mid, "ns", MemoryPatch(content="otter edited"))
    index.sync()
    assert index.commit() == 3
    state_path = backend_context.data_dir / "tantivy" / "memmimic-state.json"
    state = json.loads(state_path.read_text(encoding="utf-8"))
    state["seq"] = 0  # as if the state file had never been advanced
    state_path.write_text(json.dumps(state), encoding="utf-8")
    assert index.commit() == storage.last_seq()
    assert len(found(index, "ns", "otter")) == 3
    assert index.stats()["documents"] == 3


def test_changed_analysis_settings_rebuild_the_index(storage: Storage, make_index: MakeIndex) -> None:
    (mid,) = add(storage, "ns", "the otter swims")
    assert found(make_index(), "ns", "the") == [mid]
    with_stopwords = make_index(stopwords="english")
    assert found(with_stopwords, "ns", "the") == []
    assert found(with_stopwords, "ns", "the otters") == [mid]


def test_a_large_lag_rebuilds(storage: Storage, make_index: MakeIndex) -> None:
    index = make_index(rebuild_threshold=1, sync_on_search=False)
    gone, *kept = add(storage, "ns", "heron a", "heron b", "heron c")
    storage.delete(gone, "ns")
    index.sync()
    assert sorted(found(index, "ns", "heron")) == sorted(kept)
    assert index.lag() == 0


def test_a_new_storage_in_the_same_folder_rebuilds(
    memmimic_backends: Backends, backend_context: BackendContext, storage: Storage, make_index: MakeIndex
) -> None:
    add(storage, "ns", "lynx", "lynx", "lynx")
    make_index().close()
    other = BackendContext(data_dir=backend_context.data_dir, store_id="another-store", storage=storage)
    index = memmimic_backends["text_index"].create("tantivy", {}, other, "text_index")
    try:
        assert len(found(index, "ns", "lynx")) == 3
    finally:
        index.close()


# -- filters ---------------------------------------------------------------------------------


def test_archived_memories_are_left_out_unless_asked(storage: Storage, make_index: MakeIndex) -> None:
    old, new = add(storage, "ns", "old moose note", "new moose note")
    storage.update(old, "ns", MemoryPatch(status="archived"))
    index = make_index()
    assert found(index, "ns", "moose") == [new]
    assert sorted(found(index, "ns", "moose", filters=Filters(status=None))) == sorted([old, new])
    assert found(index, "ns", "moose", filters=Filters(status="archived")) == [old]


def test_filters_are_enforced_inside_the_top_k(storage: Storage, make_index: MakeIndex) -> None:
    """Many better matches of another type must not crowd out the one asked for."""
    add(storage, "ns", *["bison bison bison"] * 30, memory_type="note")
    (wanted,) = add(storage, "ns", "a lone bison among many words here", memory_type="fact", tags=["wild"])
    index = make_index()
    assert found(index, "ns", "bison", limit=1, filters=Filters(memory_type="fact")) == [wanted]
    assert found(index, "ns", "bison", limit=1, filters=Filters(tags=("wild",))) == [wanted]


def test_cxd_tags_and_time_filters(storage: Storage, make_index: MakeIndex) -> None:
    _, data = add(storage, "ns", "koala control", "koala data", cxd_function="CONTROL")
    storage.update(data, "ns", MemoryPatch(cxd_function="DATA", tags=["a", "b"]))
    index = make_index()
    assert found(index, "ns", "koala", filters=Filters(cxd_function="DATA")) == [data]
    assert found(index, "ns", "koala", filters=Filters(tags=("a", "b"))) == [data]
    assert found(index, "ns", "koala", filters=Filters(tags=("a", "c"))) == []
    now = datetime.now(UTC)
    hour = timedelta(hours=1)
    assert len(found(index, "ns", "koala", filters=Filters(since=now - hour))) == 2
    assert found(index, "ns", "koala", filters=Filters(until=now - hour)) == []
    assert found(index, "ns", "koala", filters=Filters(since=now + hour)) == []


@pytest.mark.parametrize("value", ["blue", 3, True, ["x"]], ids=["str", "int", "bool", "list"])
def test_metadata_filters(storage: Storage, make_index: MakeIndex, value: Any) -> None:
    (match,) = add(storage, "ns", "llama with metadata", metadata={"k": value})
    add(storage, "ns", *["llama llama without"] * 12, metadata={"k": "other"})
    index = make_index()
    assert found(index, "ns", "llama", limit=2, filters=Filters(metadata={"k": value})) == [match]


# -- queries ---------------------------------------------------------------------------------


def test_weights_order_expansion_terms(storage: Storage, make_index: MakeIndex) -> None:
    auto, vehicle = add(storage, "ns", "my automobile", "my vehicle")
    index = make_index()
    high_auto = (WeightedTerm("automobile", 0.9, "car"), WeightedTerm("vehicle", 0.2, "car"))
    high_vehicle = (WeightedTerm("automobile", 0.2, "car"), WeightedTerm("vehicle", 0.9, "car"))
    assert found(index, "ns", "car", terms=high_auto) == [auto, vehicle]
    assert found(index, "ns", "car", terms=high_vehicle) == [vehicle, auto]


def test_a_multi_word_term_needs_all_its_words(storage: Storage, make_index: MakeIndex) -> None:
    both, _ = add(storage, "ns", "ice cream in summer", "ice on the lake")
    index = make_index()
    assert found(index, "ns", "dessert", terms=(WeightedTerm("ice cream", 0.7, "dessert"),)) == [both]


def test_stopwords_apply_to_both_sides(storage: Storage, make_index: MakeIndex) -> None:
    (park,) = add(storage, "ns", "The walk in the park")
    index = make_index(stopwords=("walk",))
    assert found(index, "ns", "walk") == []
    assert found(index, "ns", "walking park") == [park]


@pytest.mark.parametrize(
    ("tokenizer", "content", "query", "hit"),
    [
        ("en_stem", "she was running", "runs", True),
        ("default", "she was running", "runs", False),  # lowercase only: no stemming
        ("default", "she was RUNNING", "running", True),
        ("stem_french", "les chanteuses chantaient", "chanter", True),
        ("en_stem", "les chanteuses chantaient", "chanter", False),
        ("stem_german", "die Häuser", "Haus", True),
    ],
)
def test_the_tokenizer_is_configurable_and_applies_to_both_sides(
    storage: Storage, make_index: MakeIndex, tokenizer: str, content: str, query: str, hit: bool
) -> None:
    (mid,) = add(storage, "ns", content)
    for options in ({"tokenizer": tokenizer}, {"tokenizer": tokenizer, "max_tail": 0}):
        index = make_index(**options)
        assert found(index, "ns", query) == ([mid] if hit else [])  # committed by the open
        (tail,) = add(storage, "ns", content)
        index.sync()
        assert sorted(found(index, "ns", query)) == (sorted([mid, tail]) if hit else [])  # tail or committed
        storage.delete(tail, "ns")
        index.sync()


def test_ascii_folding(storage: Storage, make_index: MakeIndex) -> None:
    (cafe,) = add(storage, "ns", "coffee at the café")
    assert found(make_index(ascii_fold=True), "ns", "cafe") == [cafe]


def test_matched_terms(storage: Storage, make_index: MakeIndex) -> None:
    add(storage, "ns", "the running fox and the ice cream")
    index = make_index(matched_terms=True)
    query = TextQuery(text="Runs FOX badger", terms=(WeightedTerm("ice cream", 0.5, "dessert"),))
    (hit,) = index.search("ns", query, 5)
    assert hit.matched_terms == ("runs", "fox", "ice cream")
    (plain,) = make_index().search("ns", query, 5)
    assert plain.matched_terms == ()  # off: no claim about which terms matched


def test_duplicate_query_words_count_once(storage: Storage, make_index: MakeIndex) -> None:
    add(storage, "ns", "owl", "owl and a mouse")
    index = make_index()
    once = index.search("ns", TextQuery(text="owl"), 2)
    thrice = index.search("ns", TextQuery(text="owl OWL owls"), 2)
    assert [c.score for c in once] == [c.score for c in thrice]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    text=st.text(max_size=60),
    terms=st.lists(
        st.tuples(st.text(max_size=20), st.floats(allow_nan=True, allow_infinity=True)), max_size=4
    ),
)
def test_any_query_stays_in_its_namespace(
    storage: Storage, make_index: MakeIndex, text: str, terms: list[tuple[str, float]]
) -> None:
    if not storage.count("mine"):
        add(storage, "mine", "running in the park 🎉", 'quotes " and (parens) AND OR NOT')
        add(storage, "theirs", "running in the park 🎉", 'quotes " and (parens) AND OR NOT')
        make_index()
    index = make_index(sync_on_open=False)
    mine = {m.id for batch in storage.iter_memories("mine") for m in batch}
    weighted = tuple(WeightedTerm(t, w, "") for t, w in terms)
    assert {c.memory_id for c in index.search("mine", TextQuery(text=text, terms=weighted), 10)} <= mine
