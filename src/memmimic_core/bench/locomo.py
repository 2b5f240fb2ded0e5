"""Read LoCoMo-format conversations (Maharana et al., 2024) for the retrieval benchmark.

A file is a JSON list of conversations; each has ``sample_id``, ``conversation`` (with
``session_N`` turn lists and ``session_N_date_time``) and ``qa`` (questions with ``evidence``
dia_ids and an integer ``category``). Evidence strings are normalised by
:func:`normalize_evidence`; every change is counted in :class:`EvidenceNotes`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InvalidInputError

__all__ = [
    "CATEGORY_NAMES",
    "Conversation",
    "Dataset",
    "EvidenceNotes",
    "Question",
    "Turn",
    "load_locomo",
    "normalize_evidence",
    "parse_locomo",
]

#: LoCoMo's integer categories under the usual community names (mem0's evaluation and others);
#: the file stores only the integers.
CATEGORY_NAMES: Mapping[int, str] = {
    1: "multi-hop",
    2: "temporal",
    3: "open-domain",
    4: "single-hop",
    5: "adversarial",
}

_ID = re.compile(r"^D:?(\d+):0*(\d+)$")
_SESSION = re.compile(r"^session_(\d+)$")


@dataclass(frozen=True)
class Turn:
    """One turn of a conversation, stored as one memory."""

    dia_id: str
    speaker: str
    text: str
    session: int
    date: str = ""
    caption: str | None = None

    @property
    def content(self) -> str:
        """The memory text: ``speaker: text`` plus `` [image: caption]`` when an image was shared."""
        base = f"{self.speaker}: {self.text}"
        return f"{base} [image: {self.caption}]" if self.caption else base


@dataclass(frozen=True)
class Question:
    """One question and the turns that answer it (normalised dia_ids)."""

    question: str
    evidence: tuple[str, ...]
    category: int


@dataclass(frozen=True)
class Conversation:
    """One haystack: its turns and its questions."""

    sample_id: str
    turns: tuple[Turn, ...]
    questions: tuple[Question, ...]


@dataclass
class EvidenceNotes:
    """What normalisation did to the evidence strings, for the report."""

    split: list[str] = field(default_factory=list)  # one string naming several ids
    rewritten: list[str] = field(default_factory=list)  # malformed id read as a real one
    dropped: list[str] = field(default_factory=list)  # no such turn, or not an id at all
    questions_without_evidence: int = 0  # skipped: nothing left to find

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "split": self.split,
            "rewritten": self.rewritten,
            "dropped": self.dropped,
            "questions_without_evidence": self.questions_without_evidence,
        }


@dataclass(frozen=True)
class Dataset:
    """The conversations of one file, with the evidence normalisation notes."""

    conversations: tuple[Conversation, ...]
    notes: EvidenceNotes

    @property
    def question_count(self) -> int:
        """Questions kept (those with at least one valid evidence turn)."""
        return sum(len(c.questions) for c in self.conversations)

    @property
    def turn_count(self) -> int:
        """Turns across all conversations."""
        return sum(len(c.turns) for c in self.conversations)


def normalize_evidence(raw: str, known: Iterable[str], notes: EvidenceNotes | None = None) -> list[str]:
    """Return the dia_ids an evidence string names, keeping only turns that exist.

    ``"D8:6; D9:17"`` and ``"D9:1 D4:4"`` are split on ``;`` and spaces; ``"D:11:26"`` reads as
    ``D11:26`` and ``"D30:05"`` as ``D30:5``; an id naming no turn of the conversation (or no
    id at all, such as ``"D"``) is dropped. Each such case is recorded in ``notes``.
    """
    known_ids = set(known)
    pieces = [p for p in re.split(r"[;\s,]+", str(raw).strip()) if p]
    if notes is not None and len(pieces) > 1:
        notes.split.append(raw)
    out: list[str] = []
    for piece in pieces:
        match = _ID.match(piece)
        if match is None:
            if notes is not None:
                notes.dropped.append(piece)
            continue
        dia_id = f"D{int(match.group(1))}:{int(match.group(2))}"
        if dia_id not in known_ids:
            if notes is not None:
                notes.dropped.append(piece)
            continue
        if dia_id != piece and notes is not None:
            notes.rewritten.append(f"{piece} -> {dia_id}")
        if dia_id not in out:
            out.append(dia_id)
    if not pieces and notes is not None:
        notes.dropped.append(str(raw))
    return out


def _turns(sample_id: str, conversation: Mapping[str, Any]) -> list[Turn]:
    sessions = sorted(int(m.group(1)) for key in conversation if (m := _SESSION.match(key)))
    turns: list[Turn] = []
    for number in sessions:
        date = str(conversation.get(f"session_{number}_date_time") or "")
        items = conversation[f"session_{number}"]
        if not isinstance(items, list):
            raise InvalidInputError(f"{sample_id}: session_{number} must be a list of turns")
        for item in items:
            if not isinstance(item, Mapping) or not {"speaker", "dia_id", "text"} <= set(item):
                raise InvalidInputError(
                    f"{sample_id}: session_{number} has a turn without speaker, dia_id and text"
                )
            caption = item.get("blip_caption")
            turns.append(
                Turn(
                    dia_id=str(item["dia_id"]),
                    speaker=str(item["speaker"]),
                    text=str(item["text"]),
                    session=number,
                    date=date,
                    caption=str(caption) if caption else None,
                )
            )
    return turns


def parse_locomo(data: Any) -> Dataset:
    """Build a :class:`Dataset` from parsed LoCoMo JSON.

    :raises InvalidInputError: the structure is not LoCoMo's.
    """
    if not isinstance(data, list):
        raise InvalidInputError("a LoCoMo file is a JSON list of conversations")
    notes = EvidenceNotes()
    conversations: list[Conversation] = []
    for index, item in enumerate(data):
        if not isinstance(item, Mapping) or not isinstance(item.get("conversation"), Mapping):
            raise InvalidInputError(f"conversation #{index} has no 'conversation' object")
        sample_id = str(item.get("sample_id") or f"conv-{index}")
        turns = _turns(sample_id, item["conversation"])
        known = {t.dia_id for t in turns}
        questions: list[Question] = []
        for qa in item.get("qa") or []:
            raw = qa.get("evidence") or []
            if not raw:
                continue  # a question without evidence has nothing to retrieve
            evidence: list[str] = []
            for entry in raw:
                for dia_id in normalize_evidence(entry, known, notes):
                    if dia_id not in evidence:
                        evidence.append(dia_id)
            if not evidence:
                notes.questions_without_evidence += 1
                continue
            questions.append(
                Question(question=str(qa["question"]), evidence=tuple(evidence), category=int(qa["category"]))
            )
        conversations.append(Conversation(sample_id, tuple(turns), tuple(questions)))
    return Dataset(tuple(conversations), notes)


def load_locomo(path: str | Path, limit_conversations: int | None = None) -> Dataset:
    """Read a LoCoMo-format JSON file.

    :raises InvalidInputError: the file is missing, not JSON, or not LoCoMo-shaped.
    """
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInputError(f"no such benchmark file: {str(p)!r}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInputError(f"cannot read {str(p)!r} as JSON: {exc}") from None
    if limit_conversations is not None and isinstance(data, list):
        data = data[: max(0, limit_conversations)]
    return parse_locomo(data)
