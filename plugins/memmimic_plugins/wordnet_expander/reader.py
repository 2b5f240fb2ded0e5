"""A shared, lazily loaded, thread-safe WordNet reader with sense-weighted synonyms.

Loading WordNet (importing NLTK, reading the index files) takes seconds, so it happens once
per data directory and process, on first use or in a background thread. NLTK's reader keeps
open file handles it seeks in, so every look-up holds the reader's lock.
"""

from __future__ import annotations

import re
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from memmimic_core.errors import MissingResourceError
from memmimic_core.wordnet_setup import corpus_dir, missing_data_message

__all__ = ["SenseWeightedSynonyms", "WordNetData", "shared_wordnet"]

#: pseudo-count of a lemma's sense of rank r (0-based) is count + PRIOR / (r + 1): WordNet lists
#: senses most frequent first, which decides between senses that SemCor never tagged
PRIOR = 0.5
_ALPHA = re.compile(r"[a-z]+(?:_[a-z]+)*")
_REQUIRED = ("lexnames", "index.noun", "data.noun")


@dataclass(frozen=True, slots=True)
class SenseWeightedSynonyms:
    """Synonyms of one word, each with P(sense | word) * P(sense | synonym), best first."""

    word: str
    bases: tuple[str, ...]
    synonyms: tuple[tuple[str, float], ...]


class WordNetData:
    """One WordNet 3.0 corpus (``<data_dir>/corpora/wordnet``), loaded once, shared by expanders."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.lock = threading.RLock()
        self._loaded = threading.Event()
        self._error: BaseException | None = None
        self._reader: Any = None
        self._counts: dict[str, int] = {}

    def check(self) -> None:
        """Raise :class:`MissingResourceError` unless the corpus files are there (cheap)."""
        folder = corpus_dir(self.data_dir)
        if not all((folder / name).is_file() for name in _REQUIRED):
            raise MissingResourceError(missing_data_message(self.data_dir))

    @property
    def loaded(self) -> bool:
        """Whether the indexes are in memory."""
        return self._loaded.is_set() and self._error is None

    def load(self) -> None:
        """Load the reader and the sense counts (once; later calls wait or return at once).

        :raises MissingResourceError: the corpus is missing or NLTK cannot read it.
        """
        if not self._loaded.is_set():
            with self.lock:
                if not self._loaded.is_set():
                    try:
                        self._load()
                    except BaseException as exc:
                        self._error = exc
                    finally:
                        self._loaded.set()
        if self._error is not None:
            if isinstance(self._error, MissingResourceError):
                raise self._error
            raise MissingResourceError(
                f"NLTK cannot read WordNet in {str(self.data_dir)!r} "
                f"({type(self._error).__name__}: {self._error}); {missing_data_message(self.data_dir)}"
            )

    def _load(self) -> None:
        self.check()
        try:
            from nltk.corpus.reader.wordnet import WordNetCorpusReader
            from nltk.data import FileSystemPathPointer
            from nltk.data import path as nltk_path
        except ImportError:
            raise MissingResourceError(
                "the `wordnet` expander needs NLTK: pip install 'memmimic[embedded]' (or nltk>=3.9)"
            ) from None
        # NLTK only opens files under a directory on its data path
        root = str(self.data_dir.resolve())
        if root not in nltk_path:
            nltk_path.insert(0, root)
        folder = corpus_dir(self.data_dir.resolve())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "multilingual functions are not available": expected
            self._reader = WordNetCorpusReader(FileSystemPathPointer(str(folder)), None)
        counts = folder / "cntlist.rev"
        if counts.is_file():
            for line in counts.read_text(encoding="utf-8").splitlines():
                key, _, count = line.split(" ")
                self._counts[key] = int(count)

    def synonyms(
        self, word: str, poses: tuple[str, ...], max_senses: int, min_share: float, multiword: bool
    ) -> SenseWeightedSynonyms:
        """Return the sense-weighted synonyms of ``word`` (lower-case, one token).

        The senses of ``word`` (over ``poses``) are weighted by their tagged frequency; senses
        with a share below ``min_share`` are dropped, at most ``max_senses`` kept. Each other
        lemma of a kept sense scores P(sense | word) * P(sense | lemma): a synonym that mostly
        means something else (``machine`` for ``car``) scores low.
        """
        self.load()
        with self.lock:
            reader = self._reader
            bases: set[str] = set()
            senses: list[tuple[Any, float]] = []
            for pos in poses:
                forms = reader._morphy(word, pos)
                bases.update(forms)
                for rank, synset in enumerate(reader.synsets(word, pos)):
                    count = max(
                        (self._count(lemma) for lemma in synset.lemmas() if lemma.name().lower() in forms),
                        default=0,
                    )
                    senses.append((synset, count + PRIOR / (rank + 1)))
            total = sum(weight for _, weight in senses)
            if not total:
                return SenseWeightedSynonyms(word, tuple(sorted(bases)), ())
            ranked = sorted(((s, w / total) for s, w in senses), key=lambda sw: -sw[1])
            kept = [(s, share) for s, share in ranked[:max_senses] if share >= min_share]
            scores: dict[str, float] = {}
            for synset, share in kept:
                for lemma in synset.lemmas():
                    name = lemma.name().lower()
                    if name in bases or name == word or not _ALPHA.fullmatch(name):
                        continue
                    if "_" in name and not multiword:
                        continue
                    score = share * self._sense_share(lemma, poses)
                    term = name.replace("_", " ")
                    if score > scores.get(term, 0.0):
                        scores[term] = score
        best = sorted(scores.items(), key=lambda ts: (-ts[1], ts[0]))
        return SenseWeightedSynonyms(word, tuple(sorted(bases)), tuple(best))

    def _count(self, lemma: Any) -> int:
        return self._counts.get(lemma.key(), 0)

    def _sense_share(self, lemma: Any, poses: tuple[str, ...]) -> float:
        """P(lemma's synset | lemma's word): how much of the word's use this sense is (smoothed)."""
        reader = self._reader
        target = lemma.synset()
        weights: list[float] = []
        mine = 0.0
        for pos in poses:
            for rank, other in enumerate(reader.lemmas(lemma.name(), pos)):
                weight = self._count(other) + PRIOR / (rank + 1)
                weights.append(weight)
                if other.synset() == target:
                    mine = weight
        # one pseudo-count of unseen use: a rare synonym (``motorcar``) is less sure than a common one
        return mine / (sum(weights) + 1.0)


_SHARED: dict[Path, WordNetData] = {}
_SHARED_LOCK = threading.Lock()


def shared_wordnet(data_dir: Path) -> WordNetData:
    """Return the process-wide :class:`WordNetData` of ``data_dir`` (not loaded yet, maybe)."""
    key = data_dir.expanduser().resolve()
    with _SHARED_LOCK:
        data = _SHARED.get(key)
        if data is None:
            data = _SHARED[key] = WordNetData(key)
        return data
