"""Knowledge-base speed: index build time for N generated documents, query latency p50/p95, and the
time to pick up one changed file.

    .venv/bin/python benchmarks/kb_speed.py [--docs 1000] [--queries 50]

Everything is written under a temp dir (TUICHAT_HOME too); results go to stdout as Markdown and to
benchmarks/out/kb_speed.json. Numbers depend on the CPU and on what else runs on it.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

TOPICS = ["warehouse", "invoice", "sensor", "router", "greenhouse", "telescope", "ferry", "bakery",
          "library", "reactor", "vineyard", "archive", "satellite", "clinic", "orchestra", "quarry"]
VERBS = ["inspects", "records", "calibrates", "ships", "repairs", "audits", "schedules", "stores"]
THINGS = ["pallets", "filters", "valves", "lenses", "manuals", "batteries", "samples", "cables"]
ZH = ["仓库每周检查一次温度记录。", "传感器的校准周期是九十天。", "渡轮在早上七点出发。", "图书馆的档案保存在地下室。"]


def make_doc(i: int, rng: random.Random) -> str:
    topic = rng.choice(TOPICS)
    lines = [f"# {topic.title()} note {i}", ""]
    for _ in range(rng.randint(6, 14)):
        lines.append(f"The {topic} team {rng.choice(VERBS)} {rng.randint(2, 900)} {rng.choice(THINGS)} "
                     f"every {rng.randint(2, 30)} days under procedure {topic[:3].upper()}-{rng.randint(100, 999)}.")
    lines.append(f"The unique reference code of this note is REF-{i:05d}.")
    if i % 10 == 0:
        lines += ["", "".join(rng.sample(ZH, 2))]
    return "\n".join(lines) + "\n"


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=1000)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--out", default=str(Path(__file__).parent / "out" / "kb_speed.json"))
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="kb-speed-"))
    os.environ["TUICHAT_HOME"] = str(tmp / "home")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tuichat.knowledge import KnowledgeBase
    from tuichat.knowledge.embedder import embed_model

    rng = random.Random(0)
    folder = tmp / "knowledge"
    folder.mkdir()
    for i in range(args.docs):
        (folder / f"doc-{i:05d}.md").write_text(make_doc(i, rng), encoding="utf-8")

    t = time.perf_counter()
    embed_model()
    model_load = time.perf_counter() - t

    kb = KnowledgeBase(folder)
    t = time.perf_counter()
    report = kb.sync()
    build = time.perf_counter() - t
    chunks = kb.status().chunk_count

    queries = [f"Which procedure does the {rng.choice(TOPICS)} team follow for {rng.choice(THINGS)}?"
               for _ in range(args.queries // 2)]
    queries += [f"REF-{rng.randrange(args.docs):05d}" for _ in range(args.queries - len(queries))]
    kb.retrieve("warm-up")  # first query loads the index from disk
    latency = {}
    for mode in ("hybrid", "vector"):
        times = []
        for q in queries:
            t = time.perf_counter()
            kb.retrieve(q, mode=mode)
            times.append(time.perf_counter() - t)
        latency[mode] = times
    embed_times = []
    for q in queries:  # the part of a query that is the MiniLM forward pass of the question
        t = time.perf_counter()
        embed_model().get_query_embedding(q + " ")
        embed_times.append(time.perf_counter() - t)
    latency["query embedding alone"] = embed_times
    hits = sum(kb.retrieve(q).hits[0].source == f"doc-{q[4:]}.md" for q in queries if q.startswith("REF-"))

    t = time.perf_counter()
    kb.needs_sync()
    idle_check = time.perf_counter() - t
    target = folder / f"doc-{args.docs // 2:05d}.md"
    target.write_text(target.read_text(encoding="utf-8") + "An added line about the new inspection rota.\n", encoding="utf-8")
    t = time.perf_counter()
    changed_seen = kb.needs_sync()
    detect = time.perf_counter() - t
    t = time.perf_counter()
    inc = kb.sync()
    incremental = time.perf_counter() - t
    t = time.perf_counter()
    reopened = KnowledgeBase(folder)
    reopened.retrieve("warm-up")
    load = time.perf_counter() - t

    result = {
        "docs": args.docs, "chunks": chunks, "embedder_load_s": model_load, "build_s": build,
        "build_chunks_embedded": report.chunks_embedded,
        "query_p50_ms": {m: 1000 * statistics.median(v) for m, v in latency.items()},
        "query_p95_ms": {m: 1000 * pct(v, 0.95) for m, v in latency.items()},
        "exact_code_hit_at_1": f"{hits}/{sum(q.startswith('REF-') for q in queries)}",
        "needs_sync_idle_s": idle_check, "needs_sync_detect_s": detect, "change_detected": changed_seen,
        "one_file_resync_s": incremental, "one_file_chunks_embedded": inc.chunks_embedded,
        "one_file_changed": inc.changed, "index_reload_s": load, "cpu_count": os.cpu_count(),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(f"| knowledge base, {args.docs} generated docs ({chunks} passages), {os.cpu_count()} CPUs | value |")
    print("|---|---:|")
    print(f"| embedder load | {model_load:.1f} s |")
    print(f"| full index build (read, chunk, embed {report.chunks_embedded}, BM25, persist) | {build:.1f} s |")
    for mode in ("hybrid", "vector", "query embedding alone"):
        print(f"| query latency {mode} p50 / p95 | {result['query_p50_ms'][mode]:.0f} / {result['query_p95_ms'][mode]:.0f} ms |")
    print(f"| exact-code queries (REF-xxxxx) right at rank 1, hybrid | {result['exact_code_hit_at_1']} |")
    print(f"| change check, nothing changed / one file changed (stat only) | {1000 * idle_check:.0f} / {1000 * detect:.0f} ms |")
    print(f"| pick up one changed file (sync; {inc.chunks_embedded} passages re-embedded) | {incremental:.1f} s |")
    print(f"| reopen the index in a new KnowledgeBase + first query | {load:.1f} s |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
