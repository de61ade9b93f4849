"""`tuichat history list|show|search|export|delete`: chat history without the full-screen app.

Stored text (the user's, the model's) is printed through `tuichat.text_safety`, control characters
made visible, so an answer can never move the cursor or recolour the terminal.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from tuichat.text_safety import one_line, visible


def _when(stamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(stamp))


def register(subparsers) -> None:
    parser = subparsers.add_parser("history", help="list, show, search, export and delete past chats")
    sub = parser.add_subparsers(dest="history_command", metavar="{list,show,search,export,delete}", required=True)

    p = sub.add_parser("list", help="past sessions, newest first")
    p.set_defaults(func=list_sessions)

    p = sub.add_parser("show", help="one session: the branch that was on screen, with version counts")
    p.add_argument("session", type=int)
    p.set_defaults(func=show_session)

    p = sub.add_parser("search", help='search every message ("quoted words" match as a phrase)')
    p.add_argument("query", nargs="+")
    p.add_argument("--limit", type=int, default=50)
    p.set_defaults(func=search)

    p = sub.add_parser("export", help="write sessions as Markdown or as training data for `python -m finetune`")
    p.add_argument("--format", choices=("markdown", "sharegpt", "alpaca", "dpo"), default="sharegpt",
                   help="sharegpt: one multi-turn `messages` row per session; alpaca: one row per exchange; "
                        "dpo: prompt/chosen/rejected from regenerated or edited answers")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--session", type=int, action="append", help="a session id (repeatable)")
    which.add_argument("--all", action="store_true", help="every session")
    p.add_argument("--only-kept", action="store_true", help="leave out stopped (partial) answers")
    p.add_argument("--output", "-o", type=Path, required=True, help="file to write (JSON Lines; Markdown for markdown)")
    p.add_argument("--personas-dir", action="append", default=[], type=Path,
                   help="extra persona folder (for the system prompts of sessions that used one)")
    p.set_defaults(func=export)

    p = sub.add_parser("delete", help="delete a session and all its messages")
    p.add_argument("session", type=int)
    p.set_defaults(func=delete)


def _history():
    from tuichat.core.history import History

    return History()


def _session(history, session_id: int):
    from tuichat.errors import HistoryError

    info = history.session(session_id)
    if info is None:
        raise HistoryError(f"there is no session {session_id}; `tuichat history list` shows them")
    return info


def list_sessions(args: argparse.Namespace) -> int:
    sessions = _history().sessions()
    if not sessions:
        print("no sessions yet")
    for s in sessions:
        print(f"{s.id:>5}  {_when(s.updated)}  {s.message_count:>4} msgs  {one_line(s.persona):<12}  {one_line(s.title)}")
    return 0


def show_session(args: argparse.Namespace) -> int:
    history = _history()
    info = _session(history, args.session)
    conversation = history.conversation(info.id)
    print(f"# {one_line(info.title)}  (session {info.id}, {_when(info.created)}, persona {one_line(info.persona)})")
    for turn in conversation.branch():
        versions = conversation.versions(turn.id)
        marks = [f"version {[v.id for v in versions].index(turn.id) + 1}/{len(versions)}"] if len(versions) > 1 else []
        marks += ["stopped"] if turn.partial else []
        who = {"user": "You", "assistant": "Assistant", "system": "System"}[turn.role]
        print(f"\n[{turn.id}] {who}" + (f" ({', '.join(marks)})" if marks else "") + ":")
        print(visible(turn.content))
    return 0


def search(args: argparse.Namespace) -> int:
    hits = _history().search(" ".join(args.query), limit=args.limit)
    if not hits:
        print("no matches")
    for hit in hits:
        print(f"session {hit.session_id:>4}  {_when(hit.created)}  [{hit.message_id}] {hit.role:<9} {one_line(hit.snippet)}"
              f"   — {one_line(hit.session_title)}")
    return 0


def export(args: argparse.Namespace) -> int:
    from tuichat.core import training_export
    from tuichat.errors import PersonaError
    from tuichat.personas.library import PersonaLibrary

    history = _history()
    ids = [s.id for s in history.sessions()][::-1] if args.all else [_session(history, n).id for n in args.session]
    if args.format == "markdown":
        text = "\n\n---\n\n".join(history.export_markdown(n) for n in ids)
        training_export.write_text(text, args.output)
        print(f"wrote {len(ids)} session(s) to {args.output}")
        return 0
    personas = PersonaLibrary(args.personas_dir)
    rows: list[dict] = []
    for session_id in ids:
        info = history.session(session_id)
        try:
            system = personas.get(info.persona).system_prompt or None
        except PersonaError:
            print(f"tuichat: warning: session {session_id}: persona '{info.persona}' is gone; exported without a system prompt",
                  file=sys.stderr)
            system = None
        rows += training_export.ROWS[args.format](history.conversation(session_id), system, args.only_kept)
    training_export.write_jsonl(rows, args.output)
    print(f"wrote {len(rows)} {args.format} row(s) from {len(ids)} session(s) to {args.output}")
    return 0


def delete(args: argparse.Namespace) -> int:
    history = _history()
    info = _session(history, args.session)
    history.delete_session(info.id)
    print(f"deleted session {info.id} ({info.message_count} messages): {one_line(info.title)}")
    return 0
