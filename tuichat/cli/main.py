"""Command line: `tuichat` (the full-screen app), `--plain` (line REPL), `ask`, and the subcommands.

No heavy import at module level: `tuichat --help` and `--version` answer instantly, and every user
error is one line on stderr (`tuichat: error: …`) with exit code 2 — never a traceback.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Sequence

from tuichat import __version__
from tuichat.cli.args import add_model_args, add_sampling_args, settings_from_args
from tuichat.errors import TuichatError
from tuichat.text_safety import safe_output, visible

AREAS = ("tuichat.cli.personas_cmd", "tuichat.cli.kb_cmd", "tuichat.cli.history_cmd", "tuichat.cli.models_cmd")


def _chat_args(parser: argparse.ArgumentParser) -> None:
    add_model_args(parser)
    add_sampling_args(parser)
    g = parser.add_argument_group("chat")
    g.add_argument("--persona", default=None, help="persona name (see `tuichat personas list`)")
    g.add_argument("--personas-dir", action="append", default=None, help="extra folder of persona files (overrides bundled and user ones; repeatable)")
    g.add_argument("--knowledge", default=None, metavar="DIR", help="knowledge folder (default: ./knowledge if present, else one in the user data dir)")
    g.add_argument("--no-knowledge", action="store_true", help="do not index or retrieve documents")
    g.add_argument("--embedder", choices=("auto", "minilm", "e5"), default=None, help="knowledge embedder (default auto)")
    g.add_argument("--context-budget", type=int, default=None, help="prompt token budget (default 1024)")
    g.add_argument("--config", default=None, help="settings file (default: config.toml in the user config dir)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tuichat",
        description="Chat with a local language model in your terminal (full-screen app by default).",
        epilog="Data lives under the platform's user dirs; set TUICHAT_HOME to keep everything in one folder.",
    )
    parser.add_argument("--version", action="version", version=f"tuichat {__version__}")
    parser.add_argument("--plain", action="store_true", help="line-by-line REPL instead of the full-screen app (commands: quit, newsession, persona NAME)")
    _chat_args(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    ask = sub.add_parser("ask", help="answer one question and exit")
    ask.add_argument("question", nargs="+", help="the question (use - to read it from stdin)")
    _chat_args(ask)
    ask.set_defaults(func=run_ask)
    evals = sub.add_parser("eval", help="evaluate personas or the knowledge base")
    eval_sub = evals.add_subparsers(dest="eval_command", metavar="WHAT", required=True)
    for name in AREAS:
        try:
            module = importlib.import_module(name)
        except ImportError:  # an area that is not installed does not take the CLI down
            continue
        module.register(sub)
        if hasattr(module, "register_eval"):
            module.register_eval(eval_sub)
    return parser


def open_session(args: argparse.Namespace, settings, progress=None, sync_knowledge: bool = True):
    from tuichat.bootstrap import open_session as bootstrap

    return bootstrap(settings, getattr(args, "personas_dir", None) or [], getattr(args, "force_adapter", False),
                     progress, sync_knowledge)


def run_ask(args: argparse.Namespace) -> int:
    question = " ".join(args.question)
    if question == "-":
        if sys.stdin is None:
            raise TuichatError("standard input is closed; pipe the question into `ask -` or give it as an argument")
        question = sys.stdin.read()
    if not question.strip():
        raise TuichatError("the question is empty")
    settings = settings_from_args(args)
    session = open_session(args, settings)
    reply = session.send(question)
    from tuichat.cli.plain import print_footer

    for delta in reply:
        sys.stdout.write(delta)
        sys.stdout.flush()
    sys.stdout.write("\n")
    print_footer(reply)
    return 0


def run_plain(args: argparse.Namespace) -> int:
    from tuichat.cli.plain import repl

    settings = settings_from_args(args)
    return repl(open_session(args, settings), sys.stdin, sys.stdout)


def run_app(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    from pathlib import Path

    from tuichat.runtime.models import resolve_model_path_only
    from tuichat.personas.library import PersonaLibrary
    from tuichat.ui import run_app as run_tui

    # Fail fast, before the screen opens, on what can be checked cheaply; the model loads in the app.
    PersonaLibrary([Path(d) for d in args.personas_dir or []]).get(settings.persona)
    if settings.backend != "openai":  # a server's model is a served name, checked on connecting
        resolve_model_path_only(settings.model, settings.adapter)
    return run_tui(lambda progress: open_session(args, settings, progress, sync_knowledge=False), settings)


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a hub: all models are local
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        # Everything a command or the REPL prints passes the sanitiser (untrusted text: documents,
        # personas, file names, model output); the full-screen app sanitises what it shows itself.
        if getattr(args, "func", None):
            with safe_output():
                return int(args.func(args) or 0)
        if sys.stdin is None:
            raise TuichatError("standard input is closed; give tuichat a terminal or pipe text into --plain / ask -")
        if args.plain or not sys.stdout.isatty() or not sys.stdin.isatty():
            if not args.plain:
                print("tuichat: not a terminal; using the plain REPL (--plain)", file=sys.stderr)
            with safe_output():
                return run_plain(args)
        return run_app(args)
    except TuichatError as exc:
        print(f"tuichat: error: {visible(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
