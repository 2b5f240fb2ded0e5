"""``bench quality``: loader, evidence normalisation, metrics and the runner, with exact numbers.

The fixture is a tiny LoCoMo-format file written by the tests. Its questions share no word with
the turns except the ones meant to match, so keyword-only recall returns exactly the turns
computed by hand below (BM25 ranks the shorter of two equal matches first).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from memmimic_core.bench.locomo import EvidenceNotes, load_locomo, normalize_evidence
from memmimic_core.bench.metrics import question_metrics
from memmimic_core.bench.presets import Preset
from memmimic_core.bench.quality import run_quality
from memmimic_core.bench.report import markdown_tables, write_json, write_plot
from memmimic_core.cli import bench
from memmimic_core.cli.app import build_app
from memmimic_core.engine import MemMimic
from memmimic_core.errors import InvalidInputError

HALF_NDCG = 1.0 / (1.0 + 1.0 / math.log2(3))  # one of two relevant ids, at rank 1

LOCOMO: list[dict[str, Any]] = [
    {
        "sample_id": "conv-a",
        "conversation": {
            "speaker_a": "Alice",
            "speaker_b": "Bob",
            "session_1_date_time": "1:00 pm on 1 May, 2023",
            "session_1": [
                {"speaker": "Alice", "dia_id": "D1:1", "text": "I adopted a puppy named Biscuit."},
                {"speaker": "Bob", "dia_id": "D1:2", "text": "Lovely, congratulations!"},
            ],
            "session_2_date_time": "2:00 pm on 2 May, 2023",
            "session_2": [
                {"speaker": "Alice", "dia_id": "D2:1", "text": "Biscuit chewed my slippers yesterday."},
                {
                    "speaker": "Bob",
                    "dia_id": "D2:2",
                    "text": "My violin teacher moved to Lisbon.",
                    "img_url": ["https://example.invalid/x.jpg"],
                    "blip_caption": "a harbour at sunset",
                },
            ],
        },
        "qa": [
            {"question": "puppy?", "answer": "Biscuit", "evidence": ["D1:1"], "category": 1},
            {"question": "slippers or Lisbon?", "answer": "x", "evidence": ["D2:1", "D1:2"], "category": 2},
            {"question": "harbour?", "answer": "x", "evidence": ["D2:2"], "category": 2},
            {"question": "chewed?", "adversarial_answer": "x", "evidence": ["D:2:01"], "category": 5},
            {"question": "ghost?", "answer": "x", "evidence": ["D9:9"], "category": 4},
            {"question": "nothing?", "answer": "x", "evidence": [], "category": 4},
            {"question": "Lisbon violin teacher?", "answer": "x", "evidence": ["D1:1"], "category": 4},
        ],
    },
    {
        "sample_id": "conv-b",
        "conversation": {
            "speaker_a": "Carol",
            "speaker_b": "Dan",
            "session_1_date_time": "9:00 am on 3 May, 2023",
            "session_1": [
                {"speaker": "Carol", "dia_id": "D1:1", "text": "We planted tomatoes."},
                {"speaker": "Dan", "dia_id": "D1:2", "text": "Tomatoes need sunshine."},
            ],
        },
        "qa": [{"question": "sunshine?", "answer": "x", "evidence": ["D1:1; D1:2"], "category": 1}],
    },
]

KEYWORD_ONLY = Preset(
    "kw",
    "tantivy alone",
    {
        "text_index": {"backend": "tantivy"},
        "embedder": {"backend": "hashing"},
        "cache": {"backend": "none"},
        "ranker": {"backend": "weighted"},  # no neighbour lift: the metrics below are by hand
    },
    ("keyword",),
)


@pytest.fixture
def locomo_file(tmp_path: Path) -> Path:
    path = tmp_path / "locomo.json"
    path.write_text(json.dumps(LOCOMO), encoding="utf-8")
    return path


def test_normalize_evidence_splits_rewrites_and_drops() -> None:
    notes = EvidenceNotes()
    known = {"D8:6", "D9:17", "D11:26", "D30:5"}
    assert normalize_evidence("D8:6; D9:17", known, notes) == ["D8:6", "D9:17"]
    assert normalize_evidence("D:11:26", known, notes) == ["D11:26"]
    assert normalize_evidence("D30:05", known, notes) == ["D30:5"]
    assert normalize_evidence("D10:19", known, notes) == []
    assert normalize_evidence("D", known, notes) == []
    assert notes.split == ["D8:6; D9:17"]
    assert notes.rewritten == ["D:11:26 -> D11:26", "D30:05 -> D30:5"]
    assert notes.dropped == ["D10:19", "D"]


def test_loader_builds_turn_contents_and_skips_questions_without_evidence(locomo_file: Path) -> None:
    data = load_locomo(locomo_file)
    assert data.turn_count == 6
    assert data.question_count == 6  # "nothing?" has no evidence, "ghost?" none that exists
    assert data.notes.questions_without_evidence == 1
    turn = data.conversations[0].turns[3]
    assert turn.content == "Bob: My violin teacher moved to Lisbon. [image: a harbour at sunset]"
    assert (turn.session, turn.date) == (2, "2:00 pm on 2 May, 2023")
    assert data.conversations[1].questions[0].evidence == ("D1:1", "D1:2")


def test_loader_rejects_files_that_are_not_locomo(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"not": "a list"}', encoding="utf-8")
    with pytest.raises(InvalidInputError, match="list of conversations"):
        load_locomo(bad)
    with pytest.raises(InvalidInputError, match="no such benchmark file"):
        load_locomo(tmp_path / "missing.json")


def test_question_metrics_by_hand() -> None:
    scores = question_metrics(["x", "a", "y", "x", "b"], ["a", "b", "c"])
    assert scores["recall@1"] == 0.0
    assert scores["recall@5"] == pytest.approx(2 / 3)  # the repeated "x" counts once
    assert scores["any_hit@10"] == 1.0
    assert scores["mrr@10"] == 0.5
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    ideal = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert scores["ndcg@10"] == pytest.approx(dcg / ideal)
    assert question_metrics([], ["a"])["ndcg@10"] == 0.0
    with pytest.raises(ValueError):
        question_metrics(["a"], [])


def test_runner_gives_the_exact_metrics(locomo_file: Path, tmp_path: Path) -> None:
    report = run_quality(load_locomo(locomo_file), [KEYWORD_ONLY], work_dir=tmp_path)
    (result,) = report.results
    m = result.metrics
    assert m["all"]["questions"] == 6
    assert m["all"]["recall@1"] == pytest.approx(4 / 6)
    assert m["all"]["recall@10"] == pytest.approx(4 / 6)
    assert m["all"]["any_hit@10"] == pytest.approx(5 / 6)
    assert m["all"]["mrr@10"] == pytest.approx(5 / 6)
    assert m["all"]["ndcg@10"] == pytest.approx((3 + 2 * HALF_NDCG) / 6)
    assert m["1"]["recall@10"] == pytest.approx(0.75)
    assert m["1"]["ndcg@10"] == pytest.approx((1 + HALF_NDCG) / 2)
    assert m["2"]["recall@10"] == pytest.approx(0.75)
    assert m["4"]["recall@10"] == 0.0
    assert m["5"]["recall@10"] == 1.0
    assert report.evidence_notes["rewritten"] == ["D:2:01 -> D2:1"]
    assert list(tmp_path.glob("memmimic-bench-*")) == []  # temporary stores are removed


def test_report_writes_tables_json_and_plot(locomo_file: Path, tmp_path: Path) -> None:
    report = run_quality(load_locomo(locomo_file), [KEYWORD_ONLY], work_dir=tmp_path)
    tables = markdown_tables(report)
    assert "| kw | 0.667 | 0.667 | 0.667 | 0.833 | 0.833 | 0.704 |" in tables
    assert "1 multi-hop (n=2)" in tables
    write_json(report, tmp_path / "r.json")
    assert json.loads((tmp_path / "r.json").read_text())["results"][0]["name"] == "kw"
    write_plot(report, tmp_path / "r.png")
    assert (tmp_path / "r.png").read_bytes()[:4] == b"\x89PNG"


def test_context_weight_lifts_the_neighbours_of_a_match(tmp_path: Path) -> None:
    config: dict[str, Any] = {
        "data_dir": str(tmp_path),
        "text_index": {"backend": "tantivy"},
        "embedder": {"backend": "hashing"},
        "cache": {"backend": "none"},
        "ranker": {"backend": "weighted", "context_weight": 0.3},
    }
    with MemMimic(config) as mm:
        mm.remember_many(["unrelated words", "where did the zebra go", "to the river", "far away"])
        mm.remember("another namespace", namespace="other")
        hits = mm.recall("zebra", sources=["keyword"])
        assert hits[0].memory.content == "where did the zebra go"
        assert {h.memory.content for h in hits[1:]} == {"unrelated words", "to the river"}
        for neighbour in hits[1:]:
            assert neighbour.score == pytest.approx(0.3 * hits[0].score)
            assert neighbour.sources["context"].rank == 1
            assert "keyword" not in neighbour.sources
    config["ranker"] = {"backend": "weighted"}
    with MemMimic(config) as mm:
        assert [h.memory.content for h in mm.recall("zebra", sources=["keyword"])] == [
            "where did the zebra go"
        ]


def test_cli_bench_quality(locomo_file: Path, tmp_path: Path) -> None:
    import yaml

    config = tmp_path / "kw.yaml"
    config.write_text(yaml.safe_dump({**KEYWORD_ONLY.config, "data_dir": "/nonexistent"}), encoding="utf-8")
    app: typer.Typer = build_app(plugin_commands=False)
    bench.register(app)
    out = tmp_path / "out.json"
    result = CliRunner().invoke(
        app,
        ["bench", "quality", str(locomo_file), "--config", str(config), "--json-out", str(out), "-q"],
    )
    assert result.exit_code == 0, result.output
    assert "2 conversations, 6 turns, 6 questions" in result.output
    report = json.loads(out.read_text())
    # a --config runs every source: the semantic one lists all 4 turns, so all are in the top 10
    assert report["results"][0]["metrics"]["all"]["recall@10"] == 1.0
    assert report["results"][0]["name"] == "kw"


def test_cli_refuses_an_unknown_preset(locomo_file: Path) -> None:
    app = build_app(plugin_commands=False)
    bench.register(app)
    result = CliRunner().invoke(app, ["bench", "quality", str(locomo_file), "--preset", "nope"])
    assert result.exit_code == 1
    assert "unknown preset" in result.output
