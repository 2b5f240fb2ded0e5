"""The speed workloads, the matrix files and the report, on tiny real stores (no timing asserts)."""

from __future__ import annotations

import configparser
import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from memmimic_core.bench.speed import SCHEMA, SpeedSettings, percentile, run_speed, summarize, write_json
from memmimic_core.bench.speed_env import Corpus, load_bench_config, temporary_store_config
from memmimic_core.config import load_config
from memmimic_core.errors import ConfigError, InvalidInputError

ROOT = Path(__file__).resolve().parent.parent
MATRIX = ROOT / "benchmarks" / "matrix"
LOCOMO = Path(__file__).resolve().parents[2] / "shared/data/locomo/locomo10.json"
HASHING = {"embedder": {"backend": "hashing"}, "vector_index": {"backend": "numpy"}}


def _module(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem + "_under_test", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _tiny(combination: str, cache: str, **kw: Any) -> SpeedSettings:
    config = {**HASHING, "cache": {"backend": cache}}
    base: dict[str, Any] = {
        "workload": "all",
        "config": config,
        "combination": combination,
        "memories": 60,
        "repeats": 2,
        "ingest_repeats": 1,
        "queries": 3,
        "gets": 5,
        "batch": 25,
        "clients": (1, 2),
        "duration": 0.2,
    }
    base.update(kw)
    return SpeedSettings(**base)


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    folder = tmp_path_factory.mktemp("speed")
    out = []
    for combo, cache in (("tiny-tiered", "tiered"), ("tiny-none", "none")):
        res = run_speed(_tiny(combo, cache))
        write_json(res, folder / f"{combo}-60.json")
        out.append(res)
    return folder, out


def _check_figure(fig: dict[str, Any], repeats: int) -> None:
    assert fig["repeats"] == repeats == len(fig["runs"])
    assert 0 < fig["p50_ms"] <= fig["p95_ms"]
    assert fig["ops_s"] > 0
    for run in fig["runs"]:
        assert run["n"] >= 1 and run["p50_ms"] <= run["p95_ms"]


def test_all_workloads_produce_well_formed_json(results: tuple[Path, list[dict[str, Any]]]) -> None:
    folder, (tiered, none) = results
    data = json.loads((folder / "tiny-tiered-60.json").read_text())
    assert data == json.loads(json.dumps(tiered, default=str))
    assert data["schema"] == SCHEMA and data["memories"] == 60 and data["corpus"] == "synthetic"
    machine = data["machine"]
    assert machine["cores"] >= 1 and machine["python"] and machine["cpu"]
    assert "load_average" in machine and "load_average_end" in machine
    w = data["workloads"]
    assert set(w) == {
        "ingest",
        "get",
        "remember",
        "recall_cold",
        "recall_keyword",
        "recall_cached",
        "recall_warm",
        "mixed",
    }
    _check_figure(w["ingest"], 1)
    assert w["ingest"]["runs"][0]["n"] == 3  # 60 memories in batches of 25
    assert w["ingest"]["unit"] == "memories"
    assert w["ingest"]["searchable_ops_s"] > 0 and w["ingest"]["cpu_ms_per_op"] >= 0
    assert data["effective_config"]["embedder"]["backend"] == "hashing"
    assert "data_dir" not in data["effective_config"]
    for key in ("get", "remember", "recall_cold", "recall_keyword", "recall_cached", "recall_warm"):
        _check_figure(w[key], 2)
        assert w[key]["cpu_ms_per_op"] >= 0
    assert w["get"]["runs"][0]["n"] == 5 and w["recall_cold"]["runs"][0]["n"] == 3
    mixed = w["mixed"]
    assert mixed["mode"] == "threads" and set(mixed["clients"]) == {"1", "2"}
    for fig in mixed["clients"].values():
        assert fig["errors"] == 0
        _check_figure(fig, 2)
        assert "recall_p50_ms" in fig and fig["cpu_ms_per_op"] >= 0
        for run in fig["runs"]:
            assert run["recall_n"] + run.get("remember_n", 0) == run["n"]
            assert len(run["load_average"]) == 2  # before and after the run
    assert none["workloads"]["recall_cached"] == {"skipped": "cache backend is 'none'"}


def test_single_workload() -> None:
    res = run_speed(_tiny("one", "tiered", workload="get", repeats=1))
    assert set(res["workloads"]) == {"get"}


@pytest.mark.slow
def test_mixed_with_client_processes() -> None:
    mixed = run_speed(
        _tiny("procs", "lru", workload="mixed", repeats=1, clients=(2,), duration=0.3, mode="processes")
    )
    fig = mixed["workloads"]["mixed"]["clients"]["2"]
    assert fig["errors"] == 0 and fig["n"] > 0


@pytest.mark.slow
def test_a_client_process_that_cannot_open_the_store_is_an_error_not_a_hang() -> None:
    from memmimic_core.bench.speed import _run_processes

    settings = _tiny("broken", "none", mode="processes", duration=0.2)
    results, _ = _run_processes({"storage": {"backend": "no-such-backend"}}, ["q"], [1, 2], settings)
    errors = [e for res in results for e in res["errors"]]
    assert len(errors) == 2 and all(e.startswith("open: ") for e in errors)
    assert not any(res["latencies"].get("recall") for res in results)


@pytest.mark.slow
def test_named_concurrency_run_writes_json_and_the_report_shows_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    knobs = {"COMBINATION": "sqlite-storage-numpy-hashing-tiered", "CLIENTS": "2", "SECONDS": "0.5"}
    knobs |= {"MODES": "threads", "MEMORIES": "50"}
    for name, value in knobs.items():
        monkeypatch.setenv(f"MEMMIMIC_BENCH_CONCURRENCY_{name}", value)
    monkeypatch.setenv("MEMMIMIC_BENCH_OUT", str(tmp_path))
    run = _module(MATRIX / "run.py")
    assert run.main(["concurrency"]) == 0
    out = tmp_path / "concurrency" / "sqlite-storage-numpy-hashing-tiered-threads-2x0.5s.json"
    data = json.loads(out.read_text())
    assert data["workload"] == "mixed" and data["memories"] == 50
    mixed = data["workloads"]["mixed"]
    assert mixed["duration_s"] == 0.5 and mixed["mode"] == "threads"
    assert mixed["clients"]["2"]["errors"] == 0 and mixed["clients"]["2"]["n"] > 0
    report = _module(ROOT / "benchmarks" / "report.py")
    table = report.concurrency_table(report.load_results(out.parent))
    assert table is not None and "| sqlite-storage-numpy-hashing-tiered | threads | 50 | 2 × 0.5 |" in table


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"workload": "nope"}, "unknown workload"),
        ({"mode": "fibers"}, "mode must be"),
        ({"memories": 0}, "memories must be"),
        ({"clients": ()}, "clients must be"),
        ({"duration": 0}, "duration must be"),
    ],
)
def test_bad_settings_are_refused(change: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        _tiny("bad", "none", **change).check()


def test_percentile_and_summary() -> None:
    assert percentile([5.0], 95) == 5.0
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 50) == 3.0
    assert percentile([0.0, 10.0], 95) == pytest.approx(9.5)
    runs = [{"n": 3, "p50_ms": 1.0, "p95_ms": 2.0, "mean_ms": 1.0, "ops_s": 10.0}] * 2 + [
        {"n": 3, "p50_ms": 9.0, "p95_ms": 9.0, "mean_ms": 9.0, "ops_s": 1.0}
    ]
    s = summarize(runs, unit="x")
    assert s["p50_ms"] == 1.0 and s["ops_s"] == 10.0 and s["repeats"] == 3 and s["unit"] == "x"


def test_corpus_and_temporary_store(tmp_path: Path) -> None:
    synthetic = Corpus.build(30, 12)
    assert len(synthetic.texts) == 30 and len(set(synthetic.texts)) == 30
    assert len(synthetic.queries) >= 12 and len(set(synthetic.queries)) == len(synthetic.queries)
    with temporary_store_config({"storage": {"backend": "postgresql"}, "cache": {"backend": "redis"}}) as cfg:
        data_dir = Path(cfg["data_dir"])
        assert data_dir.is_dir()
        assert (
            cfg["storage"]["schema"].startswith("bench_")
            and cfg["cache"]["key_prefix"] == cfg["storage"]["schema"]
        )
    assert not data_dir.exists()
    with pytest.raises(InvalidInputError, match="does not exist"):
        Corpus.build(3, 3, locomo=tmp_path / "missing.json")
    bad = tmp_path / "bad.yaml"
    bad.write_text("- a list\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_bench_config(bad)


@pytest.mark.skipif(not LOCOMO.is_file(), reason=f"{LOCOMO} is not on this machine")
def test_locomo_corpus_cycles_turns() -> None:
    corpus = Corpus.build(6000, 20, locomo=LOCOMO)
    assert corpus.source == "locomo:locomo10.json" and len(corpus.texts) == 6000
    assert corpus.texts[-1].endswith("(copy 1)") and len(corpus.queries) >= 20


def test_report_merges_real_results(results: tuple[Path, list[dict[str, Any]]], tmp_path: Path) -> None:
    folder, _ = results
    report = _module(ROOT / "benchmarks" / "report.py")
    path = report.build_report(folder, tmp_path, title="tiny")
    assert path is not None
    text = path.read_text()
    rows = [line for line in text.splitlines() if line.startswith("| tiny-")]
    assert len(rows) == 2 and any("tiny-none" in r for r in rows) and any("tiny-tiered" in r for r in rows)
    assert "**claimed**" in text and "0.18 ms" in text and "250 ops/s" in text
    assert (tmp_path / "latency_vs_size.png").stat().st_size > 0
    assert (tmp_path / "throughput_vs_clients.png").stat().st_size > 0
    assert report.build_report(tmp_path / "empty", tmp_path / "out") is None


def test_every_matrix_yaml_is_a_valid_config_with_a_tox_env() -> None:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(ROOT / "tox.ini")
    envs = {s.split(":", 1)[1] for s in parser.sections() if s.startswith("testenv:")}
    combos = {p.stem for p in MATRIX.glob("*.yaml")}
    assert combos and {f"bench-{c}" for c in combos} <= envs
    assert {e.split("-", 1)[1] for e in envs if e.startswith(("bench-", "smoke-"))} <= combos
    for combo in combos:
        data = yaml.safe_load((MATRIX / f"{combo}.yaml").read_text())
        load_config(data)  # every key valid
        storage, text, _vector, embedder, cache, *extra = combo.split("-")
        assert data["storage"]["backend"] == storage and data["text_index"]["backend"] == text
        assert data["cache"]["backend"] == cache
        assert data["embedder"]["backend"] == (
            "hashing" if embedder == "hashing" else "sentence-transformers"
        )
        assert ("wordnet" in extra) == bool(data.get("expanders"))


@pytest.mark.skipif(not LOCOMO.is_file(), reason=f"{LOCOMO} is not on this machine")
def test_peers_parse_locomo_like_memmimic() -> None:
    from memmimic_core.bench.locomo import load_locomo
    from memmimic_core.bench.metrics import question_metrics

    peers = _module(ROOT / "benchmarks" / "peers.py")
    ours = load_locomo(LOCOMO)
    theirs = peers.load_locomo(LOCOMO)
    assert [c["id"] for c in theirs] == [c.sample_id for c in ours.conversations]
    for mine, other in zip(ours.conversations, theirs, strict=True):
        assert [(t.dia_id, t.content) for t in mine.turns] == other["turns"]
        assert [(q.question, list(q.evidence)) for q in mine.questions] == other["questions"]
    ranked = ["D1:1", "D1:2", "D1:1", "D2:5"] + [f"D9:{i}" for i in range(20)]
    for relevant in (["D1:2"], ["D2:5", "D9:3", "D9:15"]):
        assert peers.recall_at_10(ranked, relevant) == question_metrics(ranked, relevant)["recall@10"]
