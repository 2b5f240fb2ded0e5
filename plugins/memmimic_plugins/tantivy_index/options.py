"""The options of the ``tantivy`` text index (imported at start-up: no tantivy here)."""

from __future__ import annotations

from pydantic import Field, field_validator

from memmimic_core.protocols import BackendOptions

__all__ = ["STEMMER_LANGUAGES", "STOPWORD_LANGUAGES", "TantivyOptions"]

#: Languages tantivy's Snowball stemmer knows (``tokenizer: stem_<language>``).
STEMMER_LANGUAGES = frozenset(
    {
        *("arabic", "danish", "dutch", "english", "finnish", "french", "german", "greek", "hungarian"),
        *("italian", "norwegian", "portuguese", "romanian", "russian", "spanish", "swedish", "tamil"),
        "turkish",
    }
)
#: Languages with a built-in tantivy stopword list (``stopwords: <language>``).
STOPWORD_LANGUAGES = frozenset(
    {
        *("danish", "dutch", "english", "finnish", "french", "german", "hungarian", "italian"),
        *("norwegian", "portuguese", "russian", "spanish", "swedish"),
    }
)


class TantivyOptions(BackendOptions):
    """Options of the ``tantivy`` text index.

    Changing ``tokenizer``, ``stopwords`` or ``ascii_fold`` rebuilds the index on next sync.
    """

    tokenizer: str = Field(
        default="en_stem",
        description="`default` (lowercase only), `en_stem` (English stemming) or `stem_<language>`",
    )
    stopwords: str | tuple[str, ...] = Field(
        default="none", description="`none`, a language with a built-in list, or a list of words"
    )
    ascii_fold: bool = Field(default=False, description="fold accents (café → cafe) on both sides")
    heap_size_mb: int = Field(default=50, ge=15, le=4096, description="writer memory budget per thread, MB")
    num_threads: int = Field(default=1, ge=1, le=32, description="writer indexing threads")
    rebuild_threshold: int = Field(
        default=100_000, ge=0, description="rebuild from storage instead of replaying more changes than this"
    )
    batch_size: int = Field(default=5_000, ge=1, le=100_000, description="changes applied per index commit")
    lock_timeout: float = Field(default=30.0, ge=0, description="seconds to wait for another process's sync")
    commit_interval_ms: int = Field(
        default=1_000,
        ge=0,
        le=3_600_000,
        description="the background committer folds the in-memory tail into the on-disk index once "
        "its oldest change is this old",
    )
    max_tail: int = Field(
        default=5_000,
        ge=0,
        le=1_000_000,
        description="memories the in-memory tail holds before the committer commits at once; a sync "
        "more changes behind commits itself; 0: no tail, every sync commits",
    )
    commit_on_close: bool = Field(
        default=True,
        description="commit the tail on close (off: the next open catches up from the change sequence)",
    )
    sync_on_open: bool = Field(default=True, description="catch up with storage when opened")
    sync_on_search: bool = Field(
        default=False,
        description="catch up with storage before each search (the engine already syncs before each "
        "recall when storage changed; for using the index on its own)",
    )
    matched_terms: bool = Field(
        default=False,
        description="report the query terms each hit contains (~0.2 ms a committed hit); off: only "
        "when the query asks (explain)",
    )
    max_query_terms: int = Field(default=256, ge=1, le=4096, description="distinct terms kept from a query")

    @field_validator("tokenizer")
    @classmethod
    def _known_tokenizer(cls, value: str) -> str:
        if value in ("default", "en_stem"):
            return value
        if value.startswith("stem_") and value.removeprefix("stem_") in STEMMER_LANGUAGES:
            return value
        languages = ", ".join(sorted(STEMMER_LANGUAGES))
        raise ValueError(f"use `default`, `en_stem` or `stem_<language>` with a language among: {languages}")

    @field_validator("stopwords")
    @classmethod
    def _known_stopwords(cls, value: str | tuple[str, ...]) -> str | tuple[str, ...]:
        if isinstance(value, str):
            if value == "none" or value in STOPWORD_LANGUAGES:
                return value
            languages = ", ".join(sorted(STOPWORD_LANGUAGES))
            raise ValueError(f"use `none`, a list of words, or one of: {languages}")
        words = tuple(word.strip().lower() for word in value)
        if not all(words):
            raise ValueError("stopwords must not be empty strings")
        return words
