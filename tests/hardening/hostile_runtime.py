"""A model whose answer we control: the real engine loads and counts tokens, but `stream` yields
HOSTILE_OUTPUT, whose escape sequences are split across deltas. `python tests/hardening/hostile_runtime.py
ARGS…` runs the real `tuichat` entry point with it (for the real-terminal scan)."""
from __future__ import annotations

import sys
import threading
from pathlib import Path

HOSTILE_OUTPUT = ["Sure. \x1b", "]52;c;SEFSREVOLUNMSVA=\x07 then HARDENCLR\x1b[", "2J and \x1b]0;HARDEN-TITLE",
                  "\x1b\\ and HARDENC1\x9b2J ", "[@click=app.quit]HARDEN-CLICK[/] [b]HARDEN-BOLD[/b]"]


def hostile_stream(self, messages, params=None, cancel=None, prompt_ids=None):
    from tuichat.runtime.base import Stream

    out = Stream(cancel)

    def produce() -> None:
        for delta in HOSTILE_OUTPUT:
            out.put(delta)
        out.stats.finish_reason = "eos"
        out.stats.new_tokens = len(HOSTILE_OUTPUT)
        out.close()

    threading.Thread(target=produce, daemon=True).start()
    return out


def install() -> None:
    from tuichat.runtime.transformers_backend import Engine

    Engine.stream = hostile_stream


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    install()
    from tuichat.cli.main import main

    sys.exit(main(sys.argv[1:]))
