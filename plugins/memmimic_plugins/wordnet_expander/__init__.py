"""The ``wordnet`` expander: content words of a query to sense-weighted WordNet synonyms.

NLTK's WordNet reader over the Debian WordNet 3.0 data, made readable offline by
``python -m memmimic_core.wordnet_setup`` (never ``nltk.download``). For each content word
(stopwords and question words out) the word's senses are weighted by how often they are used
(SemCor tag counts, WordNet's sense order for the untagged ones); only the dominant senses
expand, and each synonym is weighted by P(sense | query word) * P(sense | synonym), so a
synonym that mostly means something else (``machine`` for ``car``) is left out.

Loading WordNet takes seconds: it happens once per process in a background thread started at
construction (``preload: true``) or on the first :meth:`WordNetExpander.expand`.
"""

from __future__ import annotations

import contextlib
import re
import threading
from functools import lru_cache
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field

from memmimic_core import hookimpl
from memmimic_core.models import WeightedTerm
from memmimic_core.protocols import BackendContext, BackendOptions, Expander
from memmimic_core.registry import BackendRegistry
from memmimic_core.wordnet_setup import default_data_dir

from .reader import WordNetData, shared_wordnet
from .stopwords import STOPWORDS

__all__ = ["STOPWORDS", "WordNetExpander"]

_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")
_MAX_WORD_LENGTH = 30
_POS_CODES = {"noun": "n", "verb": "v", "adjective": "a", "adverb": "r"}
Pos = Literal["noun", "verb", "adjective", "adverb"]


class WordNetExpander:
    """Query words to WordNet synonyms of their dominant senses, weighted and bounded."""

    name: ClassVar[str] = "wordnet"

    class Options(BackendOptions):
        """Options of the ``wordnet`` expander."""

        data_dir: Path | None = Field(
            default=None,
            description="NLTK data directory holding corpora/wordnet "
            "(default: $MEMMIMIC_NLTK_DATA, else <sys.prefix>/share/nltk_data)",
        )
        max_synonyms_per_term: int = Field(default=3, ge=1, le=20, description="synonyms per query word")
        max_terms: int = Field(default=12, ge=0, le=200, description="extra terms per query, at most")
        weight: float = Field(default=0.5, gt=0.0, le=1.0, description="weight of a perfect synonym")
        pos: tuple[Pos, ...] = Field(
            default=("noun", "verb", "adjective"), min_length=1, description="parts of speech expanded"
        )
        max_senses: int = Field(default=2, ge=1, le=20, description="senses of a word expanded, at most")
        min_sense_share: float = Field(
            default=0.2,
            ge=0.0,
            le=1.0,
            description="a sense expands only if it has this share of the word's use",
        )
        min_score: float = Field(
            default=0.1,
            ge=0.0,
            le=1.0,
            description="drop synonyms whose P(sense|word) * P(sense|synonym) is below this",
        )
        multiword: bool = Field(
            default=False, description="also expand to multi-word lemmas (as words: 'motor vehicle')"
        )
        max_query_words: int = Field(
            default=32, ge=1, le=1000, description="content words looked at per query"
        )
        cache_size: int = Field(default=50_000, ge=0, description="words whose expansion is memoized")
        extra_stopwords: tuple[str, ...] = Field(
            default=(), description="more words never expanded, beside the built-in English list"
        )
        skip_names: bool = Field(
            default=True, description="leave capitalized words inside a sentence (names) unexpanded"
        )
        preload: bool = Field(default=True, description="load WordNet in a background thread at start-up")

    def __init__(self, options: Options | None = None, context: BackendContext | None = None) -> None:
        self.options = options or self.Options()
        data_dir = self.options.data_dir or default_data_dir()
        self._wordnet: WordNetData = shared_wordnet(data_dir.expanduser())
        self._wordnet.check()  # fail at start-up, with the fix, when the corpus is missing
        self._stopwords = STOPWORDS | {w.strip().lower() for w in self.options.extra_stopwords}
        self._poses = tuple(_POS_CODES[p] for p in dict.fromkeys(self.options.pos))
        self._expand_word = lru_cache(maxsize=self.options.cache_size)(self._expand_word_uncached)
        self._loader: threading.Thread | None = None
        if self.options.preload and not self._wordnet.loaded:
            self._loader = threading.Thread(target=self._preload, name="memmimic-wordnet-load", daemon=True)
            self._loader.start()

    @property
    def data_dir(self) -> Path:
        """The NLTK data directory in use."""
        return self._wordnet.data_dir

    def _preload(self) -> None:
        # a failure is stored by load() and raised again by the first expand()
        with contextlib.suppress(Exception):
            self._wordnet.load()

    def content_words(self, text: str) -> list[str]:
        """Return the lower-cased words of ``text`` worth expanding, in order, once each.

        Stopwords, words of one or two letters, contractions and (with ``skip_names``) names
        are left out: a capitalized word not starting a sentence, or an all-capital word.
        """
        skip_names = self.options.skip_names and not text.isupper()
        out: dict[str, None] = {}
        for match in _WORD.finditer(text):
            raw = match.group()
            word = raw.replace("’", "'").lower()
            if not 2 < len(word) <= _MAX_WORD_LENGTH or "'" in word or word in self._stopwords:
                continue
            if (
                skip_names
                and raw[0].isupper()
                and (raw.isupper() or not _starts_sentence(text, match.start()))
            ):
                continue
            out[word] = None
        return list(out)

    def expand(self, text: str) -> list[WeightedTerm]:
        """Return up to ``max_terms`` weighted synonyms of the content words of ``text``.

        Never one of the query's own words (nor a word that lemmatizes to one); best first.
        :raises MissingResourceError: the WordNet data cannot be read.
        """
        if not isinstance(text, str) or not text.strip() or self.options.max_terms == 0:
            return []
        query_words = {w.lower() for w in re.findall(r"\w+", text)}
        words = self.content_words(text)[: self.options.max_query_words]
        if not words:
            return []
        expansions = [(word, self._expand_word(word)) for word in words]
        bases = query_words.union(*(b for _, (b, _) in expansions))
        best: dict[str, WeightedTerm] = {}
        for word, (_, synonyms) in expansions:
            for term, weight in synonyms:
                if term in bases or any(part in query_words for part in term.split()):
                    continue
                known = best.get(term)
                if known is None or weight > known.weight:
                    best[term] = WeightedTerm(term=term, weight=weight, source=word)
        ranked = sorted(best.values(), key=lambda t: -t.weight)  # stable: query order on ties
        return ranked[: self.options.max_terms]

    def _expand_word_uncached(self, word: str) -> tuple[frozenset[str], tuple[tuple[str, float], ...]]:
        """Return (the word's lemmas, its weighted synonyms) for one content word."""
        o = self.options
        found = self._wordnet.synonyms(word, self._poses, o.max_senses, o.min_sense_share, o.multiword)
        terms = tuple(
            (term, round(o.weight * score, 6))
            for term, score in found.synonyms[: o.max_synonyms_per_term]
            if score >= o.min_score and o.weight * score > 0
        )
        return frozenset(found.bases), terms

    def close(self) -> None:
        """Forget the memoized expansions (the shared WordNet data stays loaded)."""
        self._expand_word.cache_clear()


def _starts_sentence(text: str, start: int) -> bool:
    """Whether the word at ``start`` begins ``text`` or a sentence in it."""
    before = text[:start].rstrip(" \t\"'“‘([")
    return not before or before[-1] in ".!?:\n"


@hookimpl
def memmimic_register_expander(register: BackendRegistry[Expander]) -> None:
    """Register the ``wordnet`` expander."""
    register(WordNetExpander)
