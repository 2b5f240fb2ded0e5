"""Merge benchmark result JSONs into one markdown report and PNG plots.

    .venv/bin/python benchmarks/report.py                       # benchmarks/results/{raw,smoke,concurrency}
    .venv/bin/python benchmarks/report.py --input DIR --out DIR [--quality FILE] [--peers FILE]

Reads the ``memmimic bench-speed`` JSONs of a folder (``raw/`` for the matrix, ``smoke/`` for CI)
and writes ``report.md`` (one table, the machine, ratios against the baseline combination of the
same run, the performance document's claims beside the measured figures, the ``run.py concurrency``
runs of ``results/concurrency/``) and PNGs: recall latency
vs store size per combination, throughput vs concurrent clients, and quality vs latency when a
``bench quality`` JSON or the peers JSON is given.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
# ratios are against MemMimic's defaults when measured, else against the model-free combination
BASELINES = ("sqlite-tantivy-faissflat-minilm-tiered", "sqlite-storage-numpy-hashing-tiered")
SCHEMA = "memmimic.bench.speed/1"

# ../shared/spec/memmimic-performance.md, as claimed (not measured here)
CLAIMS: list[tuple[str, str, str]] = [
    ("store one memory", "0.18 ms", "remember p50 (one call at a time)"),
    ("keyword search", "0.19 ms", "recall-keyword p50"),
    ("hybrid search, cold (1k memories)", "40–75 ms", "recall-cold p50"),
    ("hybrid search, cached (1k memories)", "8–15 ms", "recall-cached p50"),
    ("10 concurrent users", "250 ops/s", "mixed 80/20, 10 clients, ops/s"),
]


def load_results(folder: Path) -> list[dict[str, Any]]:
    """Every speed result JSON in ``folder`` (other JSON files are ignored)."""
    out = []
    for path in sorted(folder.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            print(f"warning: skipping {path}: {exc}", file=sys.stderr)
            continue
        if isinstance(data, dict) and data.get("schema") == SCHEMA:
            out.append(data)
    out.sort(key=lambda r: (r["combination"], r["memories"]))
    return out


def _fig(result: Mapping[str, Any], name: str, key: str = "p50_ms") -> float | None:
    fig = result["workloads"].get(name)
    if not fig or "skipped" in fig:
        return None
    value = fig.get(key)
    return float(value) if value is not None else None


def _mixed(result: Mapping[str, Any], clients: int | None = None) -> tuple[int, dict[str, Any]] | None:
    mixed = result["workloads"].get("mixed")
    if not mixed or not mixed.get("clients"):
        return None
    counts = sorted(int(c) for c in mixed["clients"])
    pick = clients if clients in counts else counts[-1]
    if clients is not None and clients not in counts:
        return None
    return pick, mixed["clients"][str(pick)]


def _ms(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.2f}" if value < 10 else f"{value:.1f}" if value < 100 else f"{value:.0f}"


def _unit(value: float | None) -> str:
    return "–" if value is None else f"{_ms(value)} ms"


def _with_cpu(result: Mapping[str, Any], name: str) -> str:
    """``p50 ms`` plus, when recorded, the CPU time per operation in parentheses."""
    cpu = _fig(result, name, "cpu_ms_per_op")
    text = _unit(_fig(result, name))
    return text if cpu is None else f"{text} (cpu {_ms(cpu)})"


def _rate(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f}"


def _ratio(value: float | None, base: float | None) -> str:
    if value is None or not base:
        return "–"
    return f"{value / base:.2f}×"


def baseline(results: Sequence[Mapping[str, Any]]) -> str:
    """The combination ratios are taken against (the first of BASELINES that was measured)."""
    names = {r["combination"] for r in results}
    return next((b for b in BASELINES if b in names), BASELINES[-1])


def table(results: Sequence[Mapping[str, Any]]) -> str:
    """The main markdown table: one row per (combination, store size)."""
    name = baseline(results)
    base = {r["memories"]: r for r in results if r["combination"] == name}
    head = (
        "| combination | memories | ingest mem/s (searchable) | remember p50 | get p50 | keyword p50 | "
        "cold p50 / p95 | cold cpu/op | warm p50 (no cache) | cached p50 | mixed ops/s by clients | "
        "errors | cold vs base | load avg |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    )
    rows = [head]
    for r in results:
        clients = r["workloads"].get("mixed", {}).get("clients", {})
        mixed_cell = (
            ", ".join(f"{c}: {_rate(clients[c]['ops_s'])}" for c in sorted(clients, key=int))
            if clients
            else "–"
        )
        errors = sum(
            int(c.get("errors", 0)) for c in r["workloads"].get("mixed", {}).get("clients", {}).values()
        )
        b = base.get(r["memories"])
        rows.append(
            f"| {r['combination']} | {r['memories']:,} | {_rate(_fig(r, 'ingest', 'ops_s'))} "
            f"({_rate(_fig(r, 'ingest', 'searchable_ops_s'))}) | "
            f"{_ms(_fig(r, 'remember'))} | {_ms(_fig(r, 'get'))} | {_ms(_fig(r, 'recall_keyword'))} | "
            f"{_ms(_fig(r, 'recall_cold'))} / {_ms(_fig(r, 'recall_cold', 'p95_ms'))} | "
            f"{_ms(_fig(r, 'recall_cold', 'cpu_ms_per_op'))} | "
            f"{_ms(_fig(r, 'recall_warm'))} | {_ms(_fig(r, 'recall_cached'))} | {mixed_cell} | {errors} | "
            f"{_ratio(_fig(r, 'recall_cold'), _fig(b, 'recall_cold') if b else None)} | {_load(r)} |"
        )
    return "\n".join(rows)


def _load(result: Mapping[str, Any]) -> str:
    """The 1-minute load average when the run started → when it ended."""
    m = result.get("machine", {})
    la = [x[0] for x in (m.get("load_average"), m.get("load_average_end")) if x]
    return " → ".join(f"{x:.1f}" for x in la) or "?"


def concurrency_table(results: Sequence[Mapping[str, Any]]) -> str | None:
    """One row per mixed-workload run of ``run.py concurrency`` (N clients for T seconds)."""
    rows = [
        "| combination | mode | memories | clients × s | ops/s | p50 / p95 | recall p50 / p95 | "
        "remember p50 / p95 | cpu ms/op | errors | load avg | commit |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in results:
        mixed = r["workloads"].get("mixed") or {}
        for c, fig in sorted(mixed.get("clients", {}).items(), key=lambda kv: int(kv[0])):
            loads = [la[0] for run in fig.get("runs", []) for la in run.get("load_average") or [] if la]
            load = f"{min(loads):.1f}–{max(loads):.1f}" if loads else _load(r)
            rows.append(
                f"| {r['combination']} | {mixed.get('mode')} | {r['memories']:,} | "
                f"{c} × {mixed.get('duration_s', 0):g} | {fig['ops_s']:.1f} | "
                f"{_ms(fig['p50_ms'])} / {_ms(fig['p95_ms'])} | "
                f"{_ms(fig.get('recall_p50_ms'))} / {_ms(fig.get('recall_p95_ms'))} | "
                f"{_ms(fig.get('remember_p50_ms'))} / {_ms(fig.get('remember_p95_ms'))} | "
                f"{_ms(fig.get('cpu_ms_per_op'))} | {fig.get('errors', 0)} | {load} | "
                f"{r['machine'].get('commit')} |"
            )
            rows += [f"|  | error: {e} | | | | | | | | | | |" for e in fig.get("first_errors") or []]
    return "\n".join(rows) if len(rows) > 2 else None


def claims_table(results: Sequence[Mapping[str, Any]], memories: int = 1000) -> str:
    """The performance document's claims beside what each combination measured at ``memories``."""
    at = [r for r in results if r["memories"] == memories]
    if not at:
        return f"(no result at {memories:,} memories)"
    head = (
        "| figure | **claimed** (performance document) | measured as | "
        + " | ".join(r["combination"] for r in at)
        + " |"
    )
    rows = [head, "|---|---|---|" + "---:|" * len(at)]
    for label, claimed, how in CLAIMS:
        cells = []
        for r in at:
            if label.startswith("store"):
                cells.append(_with_cpu(r, "remember"))
            elif label.startswith("keyword"):
                cells.append(_with_cpu(r, "recall_keyword"))
            elif "cold" in label:
                cells.append(_with_cpu(r, "recall_cold"))
            elif "cached" in label:
                cells.append(_with_cpu(r, "recall_cached"))
            else:
                m = _mixed(r, 10)
                cells.append(f"{_rate(m[1]['ops_s'])} ops/s" if m else "–")
        rows.append(f"| {label} | {claimed} | {how} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def machines(results: Sequence[Mapping[str, Any]]) -> str:
    """One line per distinct machine, with the load average range seen during the runs."""
    seen: dict[tuple[Any, ...], list[float]] = {}
    for r in results:
        m = r["machine"]
        key = (m.get("cpu"), m.get("cores"), m.get("python"), m.get("commit"))
        loads = seen.setdefault(key, [])
        for la in (m.get("load_average"), m.get("load_average_end")):
            if la:
                loads.append(float(la[0]))
    lines = []
    for (cpu, cores, python, commit), loads in seen.items():
        load = f"{min(loads):.1f}–{max(loads):.1f}" if loads else "?"
        lines.append(f"- {cpu}, {cores} cores, Python {python}, commit {commit}; 1-min load average {load}")
    return "\n".join(lines)


def peers_table(path: Path | None) -> str | None:
    """MemMimic, ChromaDB and mem0 on LoCoMo (``peers.py``), with MemMimic's ratios to each peer."""
    if path is None or not path.exists():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    peers = data.get("peers", {})
    machine = data.get("machine", {})
    rows = [
        f"Measured {machine.get('taken_at', '?')} (`{path.name}`; not re-run with the speed matrix above: "
        "compare its rows with each other, not with the tables above).",
        "",
        "| system | version | turns | questions | ingest turns/s | search p50 ms | search p95 ms | recall@10 "
        "| load avg during run |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, res in sorted(peers.items()):
        if "blocked" in res:
            rows.append(f"| {name} | – | – | – | blocked: {res['blocked']} | | | | |")
            continue
        load = res.get("load_average")
        load_text = f"{load[0][0]:.1f} → {load[1][0]:.1f}" if load else "?"
        rows.append(
            f"| {name} | {res.get('version')} | {res['turns']:,} | {res['questions']:,} | "
            f"{res['ingest_turns_per_s']:.1f} | {_ms(res['search_p50_ms'])} | {_ms(res['search_p95_ms'])} | "
            f"{res['recall_at_10']:.3f} | {load_text} |"
        )
    ours = peers.get("memmimic")
    if ours and "blocked" not in ours:
        rows.append("")
        for name, res in sorted(peers.items()):
            if name == "memmimic" or "blocked" in res:
                continue
            rows.append(
                f"- MemMimic vs {name}: search p50 {res['search_p50_ms'] / ours['search_p50_ms']:.2f}× lower "
                f"(goal ≥ 2×), ingest {ours['ingest_turns_per_s'] / res['ingest_turns_per_s']:.2f}× higher "
                f"(goal ≥ 2×), recall@10 {ours['recall_at_10'] - res['recall_at_10']:+.3f} (goal > 0)"
            )
    return "\n".join(rows)


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_latency(results: Sequence[Mapping[str, Any]], path: Path) -> Path | None:
    """Recall (cold) p50 and p95 against store size, one line per combination."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(9, 5.5))
    drawn = False
    for combo in sorted({r["combination"] for r in results}):
        pts = [(r["memories"], _fig(r, "recall_cold"), _fig(r, "recall_cold", "p95_ms")) for r in results]
        pts = [p for p, r in zip(pts, results, strict=True) if r["combination"] == combo and p[1] is not None]
        if not pts:
            continue
        line = ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=combo)[0]
        ax.plot([p[0] for p in pts], [p[2] for p in pts], ls=":", color=line.get_color())
        drawn = True
    if not drawn:
        plt.close(fig)
        return None
    ax.set(xscale="log", yscale="log", xlabel="memories in store", ylabel="recall, cold query (ms)")
    ax.set_title("Recall latency vs store size (solid p50, dotted p95)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_throughput(results: Sequence[Mapping[str, Any]], path: Path) -> Path | None:
    """Mixed 80/20 ops/s against concurrent clients, one line per combination (smallest store)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(9, 5.5))
    drawn = False
    for combo in sorted({r["combination"] for r in results}):
        mine = [r for r in results if r["combination"] == combo and r["workloads"].get("mixed")]
        if not mine:
            continue
        r = min(mine, key=lambda x: x["memories"])
        clients = r["workloads"]["mixed"]["clients"]
        xs = sorted(int(c) for c in clients)
        mode = r["workloads"]["mixed"].get("mode", "threads")
        label = f"{combo} ({r['memories']:,}, {mode})"
        ax.plot(xs, [clients[str(x)]["ops_s"] for x in xs], marker="o", label=label)
        drawn = True
    if not drawn:
        plt.close(fig)
        return None
    ax.set(xlabel="concurrent clients", ylabel="operations/s (80% recall, 20% remember)")
    ax.set_title("Throughput vs concurrency")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def quality_points(quality: Sequence[Path], peers: Path | None) -> list[tuple[str, float, float]]:
    """(label, recall@10, p50 ms) from ``bench quality`` JSONs and the peers JSON."""
    pts: list[tuple[str, float, float]] = []
    for path in quality:
        data = json.loads(path.read_text(encoding="utf-8"))
        for res in data.get("results", []):
            recall = _recall_at_10(res.get("metrics", {}))
            lat = (res.get("latency_ms") or {}).get("p50")
            if recall is not None and lat is not None:
                pts.append((f"memmimic {res.get('name')}", recall, float(lat)))
    if peers is not None and peers.exists():
        data = json.loads(peers.read_text(encoding="utf-8"))
        for name, res in data.get("peers", {}).items():
            if res.get("recall_at_10") is not None and res.get("search_p50_ms") is not None:
                pts.append((name, float(res["recall_at_10"]), float(res["search_p50_ms"])))
    return pts


def _recall_at_10(metrics: Mapping[str, Any]) -> float | None:
    for group in ("overall", "all", "total"):
        sub = metrics.get(group)
        if isinstance(sub, Mapping):
            for key in ("recall@10", "recall_at_10", "recall10"):
                if key in sub:
                    return float(sub[key])
    for key in ("recall@10", "recall_at_10"):
        if key in metrics:
            return float(metrics[key])
    return None


def plot_quality(points: Sequence[tuple[str, float, float]], path: Path) -> Path | None:
    """LoCoMo recall@10 against recall p50, one point per configuration or peer."""
    if not points:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 5.5))
    for label, recall, lat in points:
        ax.scatter([lat], [recall], marker="s" if label.startswith("memmimic") else "^")
        ax.annotate(label, (lat, recall), fontsize=7, xytext=(4, 3), textcoords="offset points")
    ax.set(xscale="log", xlabel="recall p50 (ms)", ylabel="LoCoMo recall@10")
    ax.set_title("Quality vs latency")
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def build_report(
    folder: Path,
    out: Path,
    *,
    quality: Sequence[Path] = (),
    peers: Path | None = None,
    concurrency: Path | None = None,
    title: str = "",
) -> Path | None:
    """Write ``out/report.md`` and its PNGs from the results in ``folder``; None when there are none."""
    results = load_results(folder)
    if not results:
        return None
    out.mkdir(parents=True, exist_ok=True)
    plots = [
        plot_latency(results, out / "latency_vs_size.png"),
        plot_throughput(results, out / "throughput_vs_clients.png"),
        plot_quality(quality_points(quality, peers), out / "quality_vs_latency.png"),
    ]
    sizes = sorted({r["memories"] for r in results})
    parts = [
        f"# {title or 'MemMimic benchmark results'}",
        "",
        "Generated by `benchmarks/report.py` from `memmimic bench-speed` JSONs "
        f"({len(results)} runs, sizes {', '.join(f'{s:,}' for s in sizes)}). Latencies in ms, each the "
        "median over repeated runs of that run's p50 (or p95); corpus "
        f"`{results[0].get('corpus')}`. Ratios are against `{baseline(results)}` measured in the same run.",
        "",
        "Machine (figures taken on a shared machine under load from other jobs):",
        "",
        machines(results),
        "",
        table(results),
        "",
        f"## The performance document's claims beside the measured figures ({sizes[0]:,} memories)",
        "",
        "The **claimed** column is quoted from the performance document MemMimic was specified from; "
        "it was not measured here. Measured cells are wall-clock p50 with, in parentheses, the process "
        "CPU time per operation (all threads), which other programs' load inflates much less.",
        "",
        claims_table(results, sizes[0]),
        "",
    ]
    conc = concurrency_table(load_results(concurrency)) if concurrency is not None else None
    if conc:
        parts += [
            "## Concurrency: N clients for T seconds (`run.py concurrency`)",
            "",
            "80 % recall, 20 % remember, each client in a loop; threads share one store, processes "
            "each open it. cpu ms/op counts every client's CPU (all processes).",
            "",
            conc,
            "",
        ]
    peers_md = peers_table(peers)
    if peers_md:
        parts += ["## Side by side with ChromaDB and mem0 (LoCoMo, same MiniLM model)", "", peers_md, ""]
    parts += [f"![{p.stem}]({p.name})" for p in plots if p is not None]
    path = out / "report.md"
    path.write_text("\n".join(parts) + "\n", encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments and write the report(s)."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--input", type=Path, help="one results folder (default: results/raw and results/smoke)"
    )
    parser.add_argument(
        "--out", type=Path, help="where report.md and the PNGs go (default: the input folder)"
    )
    parser.add_argument("--quality", type=Path, action="append", default=[], help="a `bench quality` JSON")
    parser.add_argument("--peers", type=Path, default=RESULTS / "peers.json", help="the peers.py JSON")
    opts = parser.parse_args(argv)
    quality = opts.quality or sorted(RESULTS.glob("quality*.json"))
    jobs = (
        [(opts.input, opts.out or opts.input, "MemMimic benchmark results")]
        if opts.input
        else [
            (RESULTS / "raw", RESULTS, "MemMimic benchmark matrix"),
            (
                RESULTS / "smoke",
                RESULTS / "smoke",
                "MemMimic smoke matrix (CI; 1k memories, one run per figure)",
            ),
        ]
    )
    wrote = 0
    for folder, out, title in jobs:
        smoke = folder.name == "smoke" and not opts.input  # the CI matrix: no peers, no quality
        path = build_report(
            folder,
            out,
            quality=() if smoke else quality,
            peers=None if smoke else opts.peers,
            concurrency=None if smoke or opts.input else RESULTS / "concurrency",
            title=title,
        )
        if path is not None:
            print(f"wrote {path}")
            wrote += 1
    if not wrote:
        print("error: no benchmark results found", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
