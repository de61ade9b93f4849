"""The plain line REPL (`tuichat --plain`): streaming output, the seed's `quit` and `newsession`.

Ctrl+C while an answer streams stops that answer (what was streamed is kept, marked partial);
Ctrl+C at the prompt, `quit`, or end of input leaves.
"""
from __future__ import annotations

import sys
from typing import TextIO

from tuichat.errors import TuichatError
from tuichat.personas.greetings import greeting_for, user_language

HELP = "commands: quit · newsession · persona NAME · /adapter [NAME|PATH|base] · help"


def repl(session, stdin: TextIO, stdout: TextIO) -> int:
    from tuichat.adapters.switcher import AdapterSwitcher

    interactive = stdin.isatty()
    err = sys.stderr
    switcher = AdapterSwitcher(session.engine, session.settings.adapter)
    print(f"tuichat · {session.engine.model_name} · persona {session.persona.name} · {HELP}", file=err)
    _print_last(session, stdout)
    while True:
        if interactive:
            stdout.write("\n> ")
            stdout.flush()
        try:
            line = stdin.readline()
        except KeyboardInterrupt:
            return 0
        if not line:
            return 0
        text = line.rstrip("\n")
        command = text.strip()
        if not command:
            continue
        if command == "quit":
            return 0
        if command == "help":
            print(HELP, file=err)
            continue
        if command == "newsession":
            session.new_session()
            print("[new session]", file=err)
            _print_last(session, stdout)
            continue
        if command.startswith("persona "):
            try:
                persona = session.set_persona(command.split(None, 1)[1].strip())
            except TuichatError as exc:
                print(f"tuichat: {exc}", file=err)
                continue
            print(f"[persona: {persona.name}]", file=err)
            _apply_persona_setup(session, switcher, persona, err)
            greeting = greeting_for(persona, user_language())
            if greeting:
                print(greeting, file=stdout)
            continue
        if command == "/adapter" or command.startswith("/adapter "):
            adapter_command(switcher, session.settings, command[len("/adapter"):].strip(), err)
            continue
        try:
            reply = session.send(text)
            for delta in reply:
                stdout.write(delta)
                stdout.flush()
        except TuichatError as exc:  # e.g. the server went away: say so, keep the conversation
            stdout.write("\n")
            print(f"tuichat: error: {exc}", file=err)
            continue
        except KeyboardInterrupt:
            reply.cancel()
            reply.wait()  # drains what is left and finalises history (a no-op once done)
            print("\n[stopped]", file=err)
        stdout.write("\n")
        stdout.flush()
        print_footer(reply)


def _apply_persona_setup(session, switcher, persona, err: TextIO) -> None:
    from tuichat.adapters.persona_setup import apply_setup, has_setup

    if has_setup(persona):
        result = apply_setup(session, switcher, persona)
        for problem in result.problems:
            print(f"tuichat: {problem}", file=err)
        if result.applied:
            print(f"[persona setup: {', '.join(result.applied)}]", file=err)


def adapter_command(switcher, settings, argument: str, err: TextIO) -> None:
    """`/adapter` lists the adapters; `/adapter NAME|PATH` switches (loading once); `base` = none."""
    if not argument:
        from tuichat.adapters.catalog import discover, adapter_roots

        found = discover(adapter_roots(settings), [p for p in [settings.adapter, *settings.adapters] if p])
        print(f"[active: {switcher.active or 'base'}]", file=err)
        for info in found:
            print(f"  {info.name}: {info.problem or info.provenance()}", file=err)
        return
    try:
        switcher.activate(switcher.find(argument, settings))
    except TuichatError as exc:
        print(f"tuichat: {exc}", file=err)
        return
    print(f"[model: {switcher.describe()} · switched in {switcher.last_switch_s * 1000:.0f} ms]", file=err)


def _print_last(session, stdout: TextIO) -> None:
    """The last message on screen (a persona's greeting when the session just started)."""
    branch = session.branch()
    if branch:
        print(branch[-1].content, file=stdout)


def print_footer(reply) -> None:
    """Sources, notices and speed of an answer, on stderr so stdout holds only the answer. The
    context size is marked ≈ where the runtime could only estimate it (a server that cannot count)."""
    s = reply.stats
    if reply.sources:
        print(f"[sources: {', '.join(reply.sources)}]", file=sys.stderr)
    for notice in reply.notices:
        print(f"[{notice}]", file=sys.stderr)
    print(
        f"[{s.new_tokens} tokens · first token {s.ttft_s * 1000:.0f} ms · {s.tokens_per_s:.1f} tok/s · "
        f"context {'≈' if reply.count_is_estimate else ''}"
        f"{reply.prompt_tokens}/{reply.budget}{' · stopped' if s.finish_reason == 'cancelled' else ''}]",
        file=sys.stderr,
    )
