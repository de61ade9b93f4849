"""`tuichat models list|add|remove|info`: the local model catalogue (tuichat/runtime/catalogue.py).

`tuichat --model NAME` then uses any name listed here. Standard library only at the top.
"""
from __future__ import annotations

import argparse
import sys

from tuichat.text_safety import visible  # licence texts and GGUF fields are untrusted


def register(subparsers) -> None:
    models = subparsers.add_parser("models", help="list, add and remove local models (the catalogue)")
    sub = models.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    sub.add_parser("list", help="built-in and added models, with size, licence and whether installed").set_defaults(func=run_list)
    add = sub.add_parser("add", help="install a built-in model (e.g. qwen-zh), or add a folder/GGUF: add NAME PATH")
    add.add_argument("name")
    add.add_argument("path", nargs="?", help="a model folder or .gguf file to register under NAME")
    add.add_argument("--accept-license", action="store_true", help="agree to the model's licence (required for gemma3-270m)")
    add.set_defaults(func=run_add)
    rm = sub.add_parser("remove", help="forget an added model, or delete an installed built-in's files")
    rm.add_argument("name")
    rm.set_defaults(func=run_remove)
    info = sub.add_parser("info", help="details of one model: file, checksum, GGUF metadata, licence")
    info.add_argument("name")
    info.add_argument("--license", action="store_true", help="print the full licence text")
    info.set_defaults(func=run_info)


def run_list(args: argparse.Namespace) -> int:
    from tuichat.runtime import catalogue

    print(f"{'name':<14} {'size':>7}  {'installed':<9}  {'languages':<26}  purpose")
    for entry in catalogue.BUILT_INS.values():
        mark = "yes" if catalogue.installed_path(entry) else "no"
        default = " (default)" if entry.name == catalogue.DEFAULT else ""
        print(f"{entry.name:<14} {entry.size:>7}  {mark:<9}  {entry.languages:<26}  {entry.purpose}{default}")
        print(f"{'':<14} licence: {entry.licence}")
    for name, data in sorted(catalogue.user_entries().items()):
        print(f"{name:<14} {'':>7}  {'added':<9}  {'':<26}  {data['path']}")
    return 0


def run_add(args: argparse.Namespace) -> int:
    from pathlib import Path

    from tuichat.runtime import catalogue
    from tuichat.errors import ModelLoadError

    if args.path:
        path = catalogue.add_path(args.name, Path(args.path))
        print(f"added '{args.name}' → {path}; use it with `tuichat --model {args.name}`")
        return 0
    entry = catalogue.BUILT_INS.get(args.name)
    if entry is None:
        raise ModelLoadError(f"unknown built-in model '{args.name}' (built-ins: {', '.join(catalogue.BUILT_INS)}); "
                             f"to add your own: tuichat models add NAME PATH")
    if entry.needs_acceptance and not args.accept_license:
        print(f"{entry.name} is distributed under the {entry.licence}.", file=sys.stderr)
        print(f"Read them with `tuichat models info {entry.name} --license`.", file=sys.stderr)
    path = catalogue.install(entry, accept_license=args.accept_license,
                             progress=lambda text: print(text, file=sys.stderr, flush=True))
    print(f"{entry.name}: {path}; use it with `tuichat --model {entry.name}`")
    return 0


def run_remove(args: argparse.Namespace) -> int:
    from tuichat.runtime import catalogue

    print(catalogue.remove(args.name))
    return 0


def run_info(args: argparse.Namespace) -> int:
    from tuichat.runtime import catalogue

    entry = catalogue.BUILT_INS.get(args.name)
    if entry is None:
        path = catalogue.resolve(args.name)
        print(f"name: {args.name}\npath: {path}")
        if path.is_file():
            for key, value in _gguf_metadata(path).items():
                print(f"{key}: {visible(value)}")
        return 0
    if args.license:
        print(visible(catalogue.licence_text(entry)))
        return 0
    path = catalogue.installed_path(entry)
    print(f"name: {entry.name}\nmodel: {entry.title}\nsize: {entry.size}\nlicence: {entry.licence}")
    print(f"languages: {entry.languages}\npurpose: {entry.purpose}\ninstalled: {path or 'no'}")
    if entry.sha256:
        print(f"sha256: {entry.sha256}")
        print("parts: " + ", ".join(f"{p.package}=={p.version}" for p in entry.parts))
    for key, value in entry.gguf_metadata.items():
        print(f"{key}: {value}")
    return 0


def _gguf_metadata(path) -> dict:
    from gguf import GGUFReader

    reader = GGUFReader(str(path))
    out = {}
    for key in ("general.architecture", "general.name", "general.license"):
        field = reader.fields.get(key)
        out[key] = field.contents() if field is not None else None
    return out
