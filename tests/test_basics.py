"""The "off" switches: expander, classifier and cache ``none`` pass their contracts."""

from __future__ import annotations

from memmimic_core.plugins import Backends, build_plugin_manager, collect_backends
from memmimic_core.testing.cache import CacheContract, stores_values
from memmimic_core.testing.classifier import ClassifierContract
from memmimic_core.testing.expander import ExpanderContract
from memmimic_plugins.basics import NoCache, NoClassifier, NoExpander


class TestNoExpanderContract(ExpanderContract):
    backend_name = "none"


class TestNoClassifierContract(ClassifierContract):
    backend_name = "none"


class TestNoCacheContract(CacheContract):
    backend_name = "none"


def test_the_off_switches_are_registered_by_name() -> None:
    backends: Backends = collect_backends(build_plugin_manager())
    assert backends["expander"].get("none") is NoExpander
    assert backends["classifier"].get("none") is NoClassifier
    assert backends["cache"].get("none") is NoCache


def test_the_none_cache_declares_that_it_stores_nothing() -> None:
    cache = NoCache()
    assert stores_values(cache) is False
    cache.set("results", "k", b"value")
    assert cache.get("results", "k") is None


def test_the_none_cache_counts_misses_per_pool() -> None:
    cache = NoCache()
    cache.get("results", "a")
    cache.get("results", "b")
    cache.get("embeddings", "a")
    stats = cache.stats()
    assert stats["hits"] == 0
    assert stats["misses"] == 3
    assert stats["pools"] == {
        "embeddings": {"hits": 0, "misses": 1, "bytes": 0},
        "results": {"hits": 0, "misses": 2, "bytes": 0},
    }


def test_the_none_classifier_never_decides() -> None:
    assert NoClassifier().classify(["first do this", "some data"]) == [(None, None), (None, None)]


def test_the_none_expander_adds_nothing() -> None:
    assert NoExpander().expand("car accident") == []
