"""Live adapter swap on one loaded base: load an adapter on first use, then switch by name.

Wraps any `ModelRuntime` (it only calls the seam's `load_adapter` / `set_adapter`) and remembers
which folder each loaded name came from, which the eval cache and the history need. Loading reads
weights, so callers run `activate` off the UI thread. A folder that vanished or holds broken JSON
is refused with one line (`AdapterProblem`) before the runtime sees it.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tuichat.adapters import catalog
from tuichat.adapters.catalog import AdapterInfo, AdapterProblem, LocalModel, check_adapter_folder

@dataclass(frozen=True)
class Catalog:
    """What the model & adapter picker shows."""

    base_name: str
    device: str
    active: str | None
    adapters: list[AdapterInfo]
    models: list[LocalModel]


class AdapterSwitcher:
    def __init__(self, runtime: Any, startup_adapter: str | None = None) -> None:
        self.runtime = runtime
        self.paths: dict[str, Path] = {}  # loaded adapter name → its folder
        if startup_adapter and runtime.active_adapter:
            self.paths[runtime.active_adapter] = Path(startup_adapter).expanduser()
        self.last_switch_s = 0.0

    @property
    def active(self) -> str | None:
        return self.runtime.active_adapter

    @property
    def active_path(self) -> Path | None:
        return self.paths.get(self.active) if self.active else None

    def name_for(self, folder: str | Path) -> str | None:
        resolved = Path(folder).expanduser().resolve()
        return next((n for n, p in self.paths.items() if p.resolve() == resolved), None)

    def activate(self, folder: str | Path | None, name: str | None = None, force: bool = False) -> str | None:
        """Make the adapter in `folder` active (loading it once), or the base model for None.
        Returns the active adapter's name. Raises a TuichatError subclass with one line."""
        start = time.perf_counter()
        if folder is None:
            self.runtime.set_adapter(None)
        else:
            known = self.name_for(folder)
            if known is not None:
                self.runtime.set_adapter(known)
            else:
                path = check_adapter_folder(folder)
                wanted = self._free_name(name or path.name)
                loaded = self.runtime.load_adapter(str(path), wanted, **({"force": True} if force else {}))
                self.paths[loaded] = path
        self.last_switch_s = time.perf_counter() - start
        return self.active

    def activate_name(self, name: str | None) -> str | None:
        """Switch to an already loaded adapter by name (None = base)."""
        start = time.perf_counter()
        self.runtime.set_adapter(name)
        self.last_switch_s = time.perf_counter() - start
        return self.active

    def _free_name(self, wanted: str) -> str:
        """PEFT adapter names must be unique and may not contain dots; `a/b` names become `a-b`."""
        base = wanted.replace("/", "-").replace(".", "_") or "adapter"
        name, n = base, 2
        while name in self.runtime.adapters():
            name, n = f"{base}-{n}", n + 1
        return name

    def find(self, name_or_path: str, settings: Any) -> Path | None:
        """The folder for an adapter named (loaded or found) or given by path; None for "base"."""
        wanted = name_or_path.strip()
        if wanted.lower() in ("base", "none", ""):
            return None
        if wanted in self.paths:
            return self.paths[wanted]
        explicit = [p for p in [settings.adapter, *(settings.adapters or [])] if p]
        found = catalog.discover(catalog.adapter_roots(settings), explicit)
        match = next((a.path for a in found if a.name == wanted), None)
        if match is None and Path(wanted).expanduser().is_dir():
            match = Path(wanted).expanduser()
        if match is None:
            names = ", ".join(sorted({*self.paths, *(a.name for a in found)})) or "none found in ./runs"
            raise AdapterProblem(f"no adapter named '{wanted}' (known: {names}; or give a folder path, or 'base')")
        return match

    def describe(self) -> str:
        """'model + adapter' as the status bar and history show it."""
        return self.runtime.model_name

    def base_identity(self) -> tuple[str, list[str]]:
        """(fingerprint of the loaded base weights, other names adapters may declare for it), as the
        runtime's own adapter check computes them; ("", []) for a runtime without local weights."""
        loaded = getattr(self.runtime, "loaded", None)
        if loaded is not None:  # transformers
            from tuichat.runtime.adapter_files import base_fingerprint

            return base_fingerprint(loaded.model), [loaded.folder.name]
        gguf = getattr(self.runtime, "path", None)
        if gguf is not None and str(gguf).lower().endswith(".gguf"):  # llama.cpp
            from tuichat.runtime import gguf_files, models

            header = gguf_files.read_header(Path(gguf))
            return gguf_files.embedding_fingerprint(header), [Path(gguf).stem, models.converted_folder_name(Path(gguf))]
        return "", []

    def catalog(self, settings: Any, with_deltas: bool = True) -> Catalog:
        """Adapters (found + given + loaded) with provenance, fit and eval deltas; other local models.
        Reads files and hashes the base: run it off the UI thread."""
        explicit = [p for p in [settings.adapter, *(settings.adapters or [])] if p] + list(self.paths.values())
        found = catalog.discover(catalog.adapter_roots(settings), explicit)
        base_name = getattr(self.runtime, "base_name", self.runtime.model_name)
        fingerprint, aliases = self.base_identity()
        found = catalog.mark_fit(found, base_name, fingerprint, aliases)
        found = [replace(a, name=self.name_for(a.path) or a.name) for a in found]
        if with_deltas:
            from tuichat.adapters.evals import deltas

            by_name = deltas(self.runtime, {a.name: a.path for a in found if a.usable})
            found = [replace(a, deltas=by_name.get(a.name, {})) for a in found]
        return Catalog(base_name, str(self.runtime.device), self.active, found,
                       catalog.local_models(settings.model, settings.models_dir))


def session_with_model(session: Any, spec: str | None, progress: Any = None) -> Any:
    """A new ChatSession on another base model (None/"" = the embedded one), keeping the history,
    personas and knowledge base of `session`. Loads weights: run it off the UI thread."""
    from dataclasses import replace as replace_settings

    from tuichat.bootstrap import clamp_to_window, open_runtime
    from tuichat.core.session import ChatSession
    from tuichat.runtime.loader import context_window

    settings = replace_settings(session.settings, model=spec or None, adapter=None)
    say = progress or (lambda _text: None)
    runtime = open_runtime(settings, False, say)
    settings = clamp_to_window(settings, context_window(runtime), say)
    catalog.remember_model(spec)
    fresh = ChatSession(runtime, session.history, session.personas, session.knowledge, settings, session.persona.name)
    started = fresh.session_id  # a ChatSession opens a new session; the chat goes on in the old one instead
    fresh.resume(session.session_id)
    session.history.delete_session(started)
    return fresh
