"""Build an NLTK-readable WordNet 3.0 corpus from the Debian ``wordnet-base`` data, offline.

NLTK's downloader needs the internet; Debian ships the same WordNet 3.0 database under
``/usr/share/wordnet`` (``apt-get install -y wordnet-base wordnet-sense-index``). NLTK's reader
wants it at ``<data dir>/corpora/wordnet/`` (it refuses paths outside its data path and
symlinks that escape it) with a ``lexnames`` file that Debian does not ship. This module copies
the files there and writes ``lexnames``::

    python -m memmimic_core.wordnet_setup [--source /usr/share/wordnet] [--target DIR]

The default target is ``$MEMMIMIC_NLTK_DATA`` or ``<sys.prefix>/share/nltk_data``, which is
where the ``wordnet`` expander looks by default. Running it twice is harmless.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from .errors import MissingResourceError

__all__ = [
    "APT_COMMAND",
    "DEFAULT_SOURCE",
    "ENV_VAR",
    "LEXNAMES",
    "build_corpus",
    "corpus_dir",
    "default_data_dir",
    "main",
    "missing_data_message",
]

ENV_VAR = "MEMMIMIC_NLTK_DATA"
DEFAULT_SOURCE = Path("/usr/share/wordnet")
APT_COMMAND = "apt-get update && apt-get install -y wordnet-base wordnet-sense-index"

_POSES = ("noun", "verb", "adj", "adv")
#: files copied from the Debian package: the database proper, the sense index and tag counts
_FILES = (
    *(f"data.{p}" for p in _POSES),
    *(f"index.{p}" for p in _POSES),
    *(f"{p}.exc" for p in _POSES),
    "index.sense",
    "cntlist.rev",
)
_REQUIRED = (*(f"data.{p}" for p in _POSES), *(f"index.{p}" for p in _POSES), *(f"{p}.exc" for p in _POSES))
_LICENSE = Path("/usr/share/doc/wordnet-base/copyright")

#: the 45 lexicographer files of WordNet 3.0 (lexnames(5WN)): number, name, syntactic category
LEXNAMES: tuple[tuple[int, str, int], ...] = (
    (0, "adj.all", 3),
    (1, "adj.pert", 3),
    (2, "adv.all", 4),
    (3, "noun.Tops", 1),
    (4, "noun.act", 1),
    (5, "noun.animal", 1),
    (6, "noun.artifact", 1),
    (7, "noun.attribute", 1),
    (8, "noun.body", 1),
    (9, "noun.cognition", 1),
    (10, "noun.communication", 1),
    (11, "noun.event", 1),
    (12, "noun.feeling", 1),
    (13, "noun.food", 1),
    (14, "noun.group", 1),
    (15, "noun.location", 1),
    (16, "noun.motive", 1),
    (17, "noun.object", 1),
    (18, "noun.person", 1),
    (19, "noun.phenomenon", 1),
    (20, "noun.plant", 1),
    (21, "noun.possession", 1),
    (22, "noun.process", 1),
    (23, "noun.quantity", 1),
    (24, "noun.relation", 1),
    (25, "noun.shape", 1),
    (26, "noun.state", 1),
    (27, "noun.substance", 1),
    (28, "noun.time", 1),
    (29, "verb.body", 2),
    (30, "verb.change", 2),
    (31, "verb.cognition", 2),
    (32, "verb.communication", 2),
    (33, "verb.competition", 2),
    (34, "verb.consumption", 2),
    (35, "verb.contact", 2),
    (36, "verb.creation", 2),
    (37, "verb.emotion", 2),
    (38, "verb.motion", 2),
    (39, "verb.perception", 2),
    (40, "verb.possession", 2),
    (41, "verb.social", 2),
    (42, "verb.stative", 2),
    (43, "verb.weather", 2),
    (44, "adj.ppl", 3),
)


def default_data_dir() -> Path:
    """Return ``$MEMMIMIC_NLTK_DATA`` if set, else ``<sys.prefix>/share/nltk_data``."""
    env = os.environ.get(ENV_VAR, "").strip()
    return Path(env).expanduser() if env else Path(sys.prefix) / "share" / "nltk_data"


def corpus_dir(data_dir: Path) -> Path:
    """Return the WordNet corpus folder inside an NLTK data directory."""
    return data_dir / "corpora" / "wordnet"


def missing_data_message(data_dir: Path) -> str:
    """Explain that WordNet is missing from ``data_dir`` and name the commands that fix it."""
    return (
        f"WordNet 3.0 is not installed in {str(data_dir)!r} (no readable corpora/wordnet there); "
        f"run `make demo`, or `{APT_COMMAND}` then `python -m memmimic_core.wordnet_setup"
        f" --target {data_dir}`; or turn the expander off (`expanders: []`)"
    )


def _lexnames_text() -> str:
    return "".join(f"{number:02d}\t{name}\t{pos}\n" for number, name, pos in LEXNAMES)


def _copy_if_changed(source: Path, target: Path) -> bool:
    """Copy ``source`` over ``target`` unless they already match in size and mtime."""
    if target.is_file() and not target.is_symlink():
        s, t = source.stat(), target.stat()
        if s.st_size == t.st_size and int(s.st_mtime) == int(t.st_mtime):
            return False
    tmp = target.with_name(target.name + ".tmp")
    shutil.copy2(source, tmp)
    os.replace(tmp, target)
    return True


def build_corpus(source: Path = DEFAULT_SOURCE, target: Path | None = None) -> Path:
    """Copy the WordNet files of ``source`` into ``<target>/corpora/wordnet`` and write lexnames.

    :param source: the Debian WordNet directory (``/usr/share/wordnet``).
    :param target: the NLTK data directory (default: :func:`default_data_dir`).
    :returns: the corpus folder.
    :raises MissingResourceError: ``source`` lacks the WordNet database files.
    """
    data_dir = target if target is not None else default_data_dir()
    missing = [name for name in _REQUIRED if not (source / name).is_file()]
    if missing:
        raise MissingResourceError(
            f"the WordNet database is not in {str(source)!r} (missing {', '.join(missing[:3])}"
            f"{', …' if len(missing) > 3 else ''}); install it with `{APT_COMMAND}`"
        )
    folder = corpus_dir(data_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name in _FILES:
            if (source / name).is_file():
                _copy_if_changed(source / name, folder / name)
        lexnames = folder / "lexnames"
        text = _lexnames_text()
        if not lexnames.is_file() or lexnames.read_text(encoding="utf-8") != text:
            lexnames.write_text(text, encoding="utf-8")
        if _LICENSE.is_file():
            _copy_if_changed(_LICENSE, folder / "LICENSE")
    except OSError as exc:
        raise MissingResourceError(f"cannot write the WordNet corpus to {str(folder)!r}: {exc}") from None
    return folder


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry: build the corpus, check that NLTK reads it, print where it is."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m memmimic_core.wordnet_setup",
        description="Build an NLTK-readable WordNet 3.0 corpus from the Debian wordnet-base data.",
    )
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="Debian WordNet directory")
    parser.add_argument(
        "--target",
        type=Path,
        default=None,
        help=f"NLTK data directory (default: ${ENV_VAR} or <sys.prefix>/share/nltk_data)",
    )
    parser.add_argument("--no-check", action="store_true", help="skip loading the corpus with NLTK")
    args = parser.parse_args(argv)
    target: Path = (args.target or default_data_dir()).expanduser().resolve()
    try:
        folder = build_corpus(args.source, target)
    except MissingResourceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not args.no_check:
        try:
            from nltk.corpus.reader.wordnet import WordNetCorpusReader
            from nltk.data import FileSystemPathPointer, path

            if str(target) not in path:
                path.insert(0, str(target))
            reader = WordNetCorpusReader(FileSystemPathPointer(str(folder)), None)
            found = [lemma for s in reader.synsets("car")[:1] for lemma in s.lemma_names()]
            print(f"WordNet {reader.get_version()} readable: car -> {', '.join(found)}")
        except Exception as exc:  # report any reader failure as one line, not a traceback
            print(f"error: NLTK cannot read {folder}: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 1
    print(f"WordNet corpus ready in {folder}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
