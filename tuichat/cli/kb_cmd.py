"""`tuichat kb sync|status|query` and `tuichat eval knowledge`.

Top level imports only the standard library; the knowledge base, LlamaIndex and the model load inside
the handlers.
"""
from __future__ import annotations

import argparse
import sys
import time


def _add_kb_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--knowledge", default=None, metavar="DIR",
                        help="knowledge folder (default: ./knowledge if present, else one in the user data dir)")
    parser.add_argument("--gate", type=float, default=None, help="minimum score for references to enter the prompt (default 0.5)")
    parser.add_argument("--top-k", type=int, default=None, help="passages retrieved per question (default 4)")
    parser.add_argument("--embedder", choices=("auto", "minilm", "e5"), default=None,
                        help="auto (default: e5 for a mostly Chinese/Japanese/Korean folder, else minilm), "
                             "minilm (English, fast) or e5 (multilingual); a change re-embeds the folder once")


def register(subparsers) -> None:
    kb = subparsers.add_parser("kb", help="index and search the knowledge folder")
    kb_sub = kb.add_subparsers(dest="kb_command", metavar="ACTION", required=True)
    sync = kb_sub.add_parser("sync", help="index added/changed files, drop removed ones")
    _add_kb_args(sync)
    sync.set_defaults(func=run_sync)
    status = kb_sub.add_parser("status", help="indexed documents with chunk counts, and skipped files with reasons")
    _add_kb_args(status)
    status.set_defaults(func=run_status)
    query = kb_sub.add_parser("query", help="print the passages retrieved for a question, with scores")
    query.add_argument("text", nargs="+", help="the question")
    query.add_argument("--mode", choices=("hybrid", "vector"), default="hybrid", help="vector = embeddings only, no keywords")
    query.add_argument("--no-sync", action="store_true", help="search the index as it is, even if the folder changed")
    _add_kb_args(query)
    query.set_defaults(func=run_query)


def register_eval(eval_subparsers) -> None:
    from tuichat.cli.args import add_model_args, add_sampling_args

    ev = eval_subparsers.add_parser("knowledge", help="retrieval hit@k/MRR and answer keyword recall with vs without the KB")
    ev.add_argument("--questions", required=True, metavar="FILE", help="JSON Lines: question, source, keywords")
    ev.add_argument("--no-answers", action="store_true", help="only score retrieval (no model needed)")
    _add_kb_args(ev)
    add_model_args(ev)
    add_sampling_args(ev)
    ev.set_defaults(func=run_eval)


def open_kb(args: argparse.Namespace):
    """The KnowledgeBase for --knowledge/--gate/--top-k, falling back to the user's settings."""
    from pathlib import Path

    from tuichat import paths
    from tuichat.core.config import load_settings
    from tuichat.errors import KnowledgeError
    from tuichat.knowledge import KnowledgeBase

    settings = load_settings(getattr(args, "config", None))
    folder = args.knowledge or settings.knowledge_dir
    folder = Path(folder).expanduser() if folder else paths.default_knowledge_dir()
    if not folder.is_dir():
        raise KnowledgeError(f"knowledge folder not found: {folder} (create it or pass --knowledge DIR)")
    gate = settings.gate if args.gate is None else args.gate
    top_k = settings.top_k if args.top_k is None else args.top_k
    return KnowledgeBase(folder, gate=gate, top_k=top_k, embedder=args.embedder or settings.embedder)


def _progress_printer():
    """Progress on stderr: one rewritten line on a terminal, a line per stage otherwise."""
    from tuichat.text_safety import raw_stream

    tty = sys.stderr.isatty()
    last = {"stage": None, "t": 0.0}

    def progress(stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        if tty and (done == total or now - last["t"] > 0.1):
            print(f"\r{stage} {done}/{total}   ", end="" if done < total else "\n", file=raw_stream(sys.stderr), flush=True)
            last["t"] = now
        elif not tty and stage != last["stage"]:
            print(f"{stage} …", file=sys.stderr, flush=True)
        last["stage"] = stage

    return progress


def _sync(kb, quiet: bool = False):
    report = kb.sync(None if quiet else _progress_printer())
    for skipped in report.skipped:
        print(f"skipped {skipped.path}: {skipped.reason}", file=sys.stderr)
    for notice in report.notices:
        print(f"notice: {notice}", file=sys.stderr)
    return report


def _print_notices(kb) -> None:
    for notice in kb.notices:
        print(f"notice: {notice}", file=sys.stderr)


def run_sync(args: argparse.Namespace) -> int:
    kb = open_kb(args)
    print(f"knowledge folder: {kb.folder}", file=sys.stderr)
    report = _sync(kb)
    for label, items in (("added", report.added), ("changed", report.changed), ("removed", report.removed)):
        for rel in items:
            print(f"{label} {rel}")
    print(report.summary())
    return 0


def run_status(args: argparse.Namespace) -> int:
    kb = open_kb(args)
    status = kb.status()
    print(f"knowledge folder: {status.folder}")
    print(f"index: {status.index_dir}")
    if status.synced_at is None:
        print("never synced: run `tuichat kb sync` (the chat app syncs on start)")
    else:
        print(f"last sync: {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(status.synced_at))}"
              f"{'  (folder changed since: run `tuichat kb sync`)' if kb.needs_sync() else ''}")
    print(f"{len(status.documents)} documents, {status.chunk_count} passages; embedder: {kb.embedder_in_use() or '-'}"
          f" (asked: {kb.embedder_choice})")
    for doc in status.documents:
        print(f"  {doc.chunks:4d}  {doc.path}")
    for notice in status.notices:
        print(f"notice: {notice}")
    if status.skipped:
        print(f"{len(status.skipped)} skipped")
        for skipped in status.skipped:
            print(f"  {skipped.path}: {skipped.reason}")
    return 0


def run_query(args: argparse.Namespace) -> int:
    kb = open_kb(args)
    if not args.no_sync and kb.needs_sync():
        print("the folder changed; syncing first (--no-sync to skip)", file=sys.stderr)
        _sync(kb, quiet=True)
    retrieval = kb.retrieve(" ".join(args.text), mode=args.mode)
    _print_notices(kb)
    if not retrieval.hits:
        print("no passages (is the folder empty? see `tuichat kb status`)")
    for i, hit in enumerate(retrieval.hits, 1):
        print(f"{i}. {hit.score:.3f}  (vector {hit.vector_score:.3f}, keyword {hit.keyword_score:.3f}, title {hit.title_score:.3f})  {hit.source}")
        snippet = " ".join(hit.text.split())
        print(f"   {snippet[:300]}{'…' if len(snippet) > 300 else ''}")
    verdict = "passed: references go into the prompt" if retrieval.passed_gate else "failed: answer without references"
    print(f"gate {retrieval.gate:.2f} {verdict} (best {retrieval.best_score:.3f})")
    return 0


def run_eval(args: argparse.Namespace) -> int:
    from tuichat.knowledge import evaluation

    questions = evaluation.load_questions(args.questions)
    kb = open_kb(args)
    if kb.needs_sync():
        _sync(kb, quiet=True)
    results = [evaluation.score_retrieval(kb, questions, mode) for mode in ("vector", "hybrid")]
    print(f"knowledge folder: {kb.folder} (embedder: {kb.embedder_in_use()})\n")
    print(evaluation.retrieval_table(results, kb.top_k, len(questions)))
    if args.no_answers:
        return 0
    from tuichat.cli.args import open_eval_session, settings_from_args
    from tuichat.text_safety import raw_stream

    # The user's settings, persona and prompt assembly (config.toml < flags); greedy and short unless asked.
    settings = settings_from_args(args, knowledge_dir=str(kb.folder), gate=kb.gate, top_k=kb.top_k)
    settings = settings.with_overrides(temperature=0.0 if args.temperature is None else None,
                                       max_new_tokens=96 if args.max_new_tokens is None else None)
    session = open_eval_session(args, settings)

    def answer(question: str, with_kb: bool) -> str:
        return session.answer_alone(question, knowledge=with_kb).wait().text

    passed = sum(kb.retrieve(q.question).passed_gate for q in questions)
    answers = evaluation.score_answers(
        answer, questions,
        progress=lambda i, n: print(f"\ranswering {i}/{n}", end="\n" if i == n else "", file=raw_stream(sys.stderr), flush=True))
    print()
    print(evaluation.answer_table(list(answers), passed, len(questions)))
    return 0
