"""`tuichat personas list|show|import|export` and `tuichat eval persona`.

Top level imports only the stdlib: the handlers import what they need, so `tuichat --help` stays fast.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _add_dirs_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--personas-dir", dest="personas_dirs", action="append", type=Path, default=[], metavar="PATH",
        help="also load personas from this folder or file (repeatable; overrides bundled and user personas)",
    )


def register(subparsers) -> None:
    parser = subparsers.add_parser("personas", help="list, show, import and export personas")
    sub = parser.add_subparsers(dest="personas_command", metavar="{list,show,import,export}", required=True)

    p = sub.add_parser("list", help="the available personas and the file each comes from")
    _add_dirs_arg(p)
    p.set_defaults(func=list_personas)

    p = sub.add_parser("show", help="one persona in full: fields, system prompt, examples")
    p.add_argument("name")
    p.add_argument("--raw", action="store_true", help="print the persona file as it is on disk")
    _add_dirs_arg(p)
    p.set_defaults(func=show_persona)

    p = sub.add_parser("import", help="import a SillyTavern / Character Card (V1–V3 JSON or PNG) as a persona")
    p.add_argument("file", type=Path)
    p.add_argument("--name", default=None, help="persona name (default: from the card's name)")
    p.add_argument("--force", action="store_true", help="overwrite an existing user persona of that name")
    p.set_defaults(func=import_persona)

    p = sub.add_parser("export", help="write a persona as a Character Card V2 JSON")
    p.add_argument("name")
    p.add_argument("-o", "--output", type=Path, default=None, help="file to write (default: stdout)")
    _add_dirs_arg(p)
    p.set_defaults(func=export_persona)


def register_eval(eval_subparsers) -> None:
    from tuichat.cli.args import add_model_args

    p = eval_subparsers.add_parser(
        "persona", help="keyword hit rate of replies with vs without a persona",
        description="Answer each prompt with and without the persona (same settings, greedy by default) "
                    "and report the share of replies containing at least one persona keyword.",
    )
    p.add_argument("--persona", required=True, help="persona name, e.g. catgirl")
    p.add_argument("--prompts", type=Path, default=None, help="JSONL prompt set (default: the bundled personas/eval_prompts.jsonl)")
    p.add_argument("--limit", type=int, default=None, help="use only the first N prompts")
    p.add_argument("--csv", type=Path, default=None, help="also write per-prompt results as CSV")
    p.add_argument("--json", type=Path, default=None, help="also write results and summary as JSON")
    p.add_argument("--max-new-tokens", type=int, default=None, help="default 64 (an evaluation is short)")
    p.add_argument("--temperature", type=float, default=None, help="default 0 = greedy (an evaluation repeats)")
    p.add_argument("--repetition-penalty", type=float, default=None, help="default: from config.toml")
    p.add_argument("--seed", type=int, default=None, help="default: from config.toml")
    p.add_argument("--context-budget", type=int, default=None, help="default: from config.toml")
    p.add_argument("--config", default=None, help="settings file (default: config.toml in the user config dir)")
    p.add_argument("-q", "--quiet", action="store_true", help="no per-reply progress on stderr")
    _add_dirs_arg(p)
    add_model_args(p)
    p.set_defaults(func=eval_persona)


def _library(args):
    from tuichat.personas.library import PersonaLibrary

    library = PersonaLibrary(args.personas_dirs)
    for error in library.errors:
        print(f"tuichat: warning: {error}", file=sys.stderr)
    return library


def list_personas(args) -> int:
    from tuichat.personas.evaluation import display_width  # CJK titles are two columns wide per character

    library = _library(args)
    rows = [("NAME", "TITLE", "LANG", "FROM", "FILE")]
    for p in library.all():
        note = "  (overrides " + ", ".join(str(s) for s in library.shadowed(p.name)) + ")" if library.shadowed(p.name) else ""
        rows.append((p.name, p.title, p.language, library.origin(p.name), f"{p.source}{note}"))
    widths = [max(display_width(r[i]) for r in rows) for i in range(4)]
    for row in rows:
        print("  ".join(c + " " * (w - display_width(c)) for c, w in zip(row[:4], widths)) + "  " + row[4])
    return 0


def show_persona(args) -> int:
    library = _library(args)
    p = library.get(args.name)
    if args.raw:
        print(p.source.read_text(encoding="utf-8"), end="")
        return 0
    shadowed = library.shadowed(p.name)
    print(f"name:        {p.name}")
    print(f"title:       {p.title}")
    print(f"from:        {library.origin(p.name)} {p.source}" + (f" (overrides {', '.join(map(str, shadowed))})" if shadowed else ""))
    print(f"language:    {p.language}")
    print(f"description: {p.description}")
    print(f"greeting:    {p.greeting}")
    print(f"keywords:    {', '.join(p.keywords) or '-'}")
    print(f"generation:  {', '.join(f'{k}={v}' for k, v in p.generation.items()) or '-'}")
    print("\n--- system prompt ---")
    print(p.system_prompt)
    if p.examples:
        print(f"\n--- example exchanges ({len(p.examples)}) ---")
        for user, assistant in p.examples:
            print(f"user:      {user}\nassistant: {assistant}\n")
    return 0


def import_persona(args) -> int:
    from tuichat import paths
    from tuichat.personas.cards import import_card
    from tuichat.personas.library import PersonaLibrary

    dest, persona = import_card(args.file, paths.user_personas_dir(), name=args.name, force=args.force)
    print(f"imported '{persona.name}' ({persona.title}) from {args.file} → {dest}")
    bundled = PersonaLibrary().shadowed(persona.name)
    if bundled:
        print(f"note: it overrides {', '.join(map(str, bundled))}")
    print(f"try it: tuichat --persona {persona.name}")
    return 0


def export_persona(args) -> int:
    from tuichat.personas.cards import persona_to_card

    card = json.dumps(persona_to_card(_library(args).get(args.name)), ensure_ascii=False, indent=2) + "\n"
    if args.output is None:
        sys.stdout.write(card)
    else:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(card, encoding="utf-8")
        print(f"wrote {args.output}")
    return 0


def eval_persona(args) -> int:
    from tuichat.personas import evaluation as persona_eval
    from tuichat.errors import PersonaError

    persona = _library(args).get(args.persona)
    if not persona.keywords:
        raise PersonaError(f"persona '{persona.name}' has no keywords to look for; add `keywords: [...]` to {persona.source}")
    prompts = persona_eval.load_prompts(args.prompts or persona_eval.default_prompts_file())
    if args.limit is not None:
        prompts = prompts[: max(args.limit, 1)]
    from tuichat.cli.args import open_eval_session, settings_from_args

    # The user's settings and prompt assembly (config.toml < flags); greedy and short unless asked.
    settings = settings_from_args(args, knowledge=False, persona=persona.name)
    settings = settings.with_overrides(temperature=0.0 if args.temperature is None else None,
                                       max_new_tokens=64 if args.max_new_tokens is None else None)
    session = open_eval_session(args, settings, args.personas_dirs)

    def answer(prompt: str, with_persona: bool) -> str:
        return session.answer_alone(prompt, persona=with_persona).wait().text

    progress = None if args.quiet else (lambda text: print(text, file=sys.stderr, flush=True))
    params = settings.generation_params(persona.generation)
    result = persona_eval.run_eval(answer, persona, prompts, params, progress, session.engine.model_name)
    print(persona_eval.format_table(result))
    if args.csv:
        persona_eval.write_csv(result, args.csv)
        print(f"wrote {args.csv}")
    if args.json:
        persona_eval.write_json(result, args.json)
        print(f"wrote {args.json}")
    return 0
