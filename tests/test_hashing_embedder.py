"""The ``hashing`` embedder: the embedder contract plus what makes it useful without a model."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import numpy as np
import pytest

from memmimic_core.errors import ConfigError, InvalidInputError
from memmimic_core.plugins import Backends
from memmimic_core.protocols import BackendContext
from memmimic_core.testing.embedder import EmbedderContract
from memmimic_plugins.hashing import HashingEmbedder


class TestHashingContract(EmbedderContract):
    backend_name = "hashing"


class TestHashingSmallDimensionContract(EmbedderContract):
    backend_name = "hashing"
    backend_options = {"dimension": 64, "char_ngram": 4}


def embed_one(embedder: HashingEmbedder, text: str) -> np.ndarray:
    return embedder.embed([text])[0]


def test_default_dimension_and_fingerprint() -> None:
    embedder = HashingEmbedder()
    assert embedder.dimension == 384
    assert embedder.fingerprint.startswith("hashing:v1:dim=384")


def test_fingerprint_changes_with_every_option_that_changes_vectors() -> None:
    prints = {
        HashingEmbedder(HashingEmbedder.Options(**opts)).fingerprint
        for opts in ({}, {"dimension": 128}, {"char_ngram": 0}, {"char_weight": 0.5})
    }
    assert len(prints) == 4


def test_similar_texts_are_closer_than_unrelated_ones() -> None:
    embedder = HashingEmbedder()
    base = embed_one(embedder, "the database migration failed")
    similar = embed_one(embedder, "database migrations failing")
    unrelated = embed_one(embedder, "a violin concert on sunday")
    assert base @ similar > 0.35
    assert base @ similar > base @ unrelated + 0.3


def test_character_ngrams_relate_word_variants() -> None:
    with_grams = HashingEmbedder()
    words_only = HashingEmbedder(HashingEmbedder.Options(char_ngram=0))
    for embedder, expected in ((with_grams, True), (words_only, False)):
        similarity = float(embed_one(embedder, "running") @ embed_one(embedder, "runner"))
        assert (similarity > 0.2) is expected


def test_case_does_not_matter() -> None:
    embedder = HashingEmbedder()
    np.testing.assert_array_equal(embed_one(embedder, "Hello World"), embed_one(embedder, "hello world"))


def test_vectors_are_the_same_in_another_process() -> None:
    """BLAKE2b, not Python's salted hash(): vectors survive a restart."""
    code = (
        "from memmimic_plugins.hashing import HashingEmbedder;"
        "print(HashingEmbedder().embed(['stable across runs'])[0][:8].tolist())"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout
        for seed in ("1", "2")
    }
    assert len(outputs) == 1
    here = HashingEmbedder().embed(["stable across runs"])[0][:8].tolist()
    assert outputs.pop().strip() == str(here)


def test_invalid_surrogates_do_not_raise() -> None:
    vector = embed_one(HashingEmbedder(), "broken \ud800 surrogate")
    assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)


def test_a_bare_string_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="sequence of texts"):
        HashingEmbedder().embed("not a list")


def test_non_string_items_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="position 1"):
        HashingEmbedder().embed(["ok", 3])  # type: ignore[list-item]


@pytest.mark.parametrize(
    "options", [{"dimension": 0}, {"dimension": "big"}, {"char_ngram": -1}, {"colour": 1}]
)
def test_bad_options_are_config_errors(
    memmimic_backends: Backends, backend_context: BackendContext, options: dict[str, Any]
) -> None:
    with pytest.raises(ConfigError, match="embedder"):
        memmimic_backends["embedder"].create("hashing", options, backend_context, "embedder")
