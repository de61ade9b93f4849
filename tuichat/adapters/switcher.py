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

ANSWER_MODEL_EVENT = "answer-model"  # history event: "<message id> <model + adapter>"


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

    def base_fingerprint(self) -> str:
        loaded = getattr(self.runtime, "loaded", None)
        if loaded is None:
            return ""  # another backend: adapters are matched by the base name they declare
        from tuichat.runtime.models import base_fingerprint

        return base_fingerprint(loaded.model)

    def catalog(self, settings: Any, with_deltas: bool = True) -> Catalog:
        """Adapters (found + given + loaded) with provenance, fit and eval deltas; other local models.
        Reads files and hashes the base: run it off the UI thread."""
        explicit = [p for p in [settings.adapter, *(settings.adapters or [])] if p] + list(self.paths.values())
        found = catalog.discover(catalog.adapter_roots(settings), explicit)
        base_name = getattr(self.runtime, "base_name", self.runtime.model_name)
        loaded = getattr(self.runtime, "loaded", None)
        aliases = [loaded.folder.name] if loaded is not None else []
        found = catalog.mark_fit(found, base_name, self.base_fingerprint(), aliases)
        found = [replace(a, name=self.name_for(a.path) or a.name) for a in found]
        if with_deltas:
            from tuichat.adapters.evals import deltas

            by_name = deltas(self.runtime, {a.name: a.path for a in found if a.usable})
            found = [replace(a, deltas=by_name.get(a.name, {})) for a in found]
        return Catalog(base_name, str(self.runtime.device), self.active, found,
                       catalog.local_models(settings.model, settings.models_dir))


def record_answer_model(history: Any, session_id: int, message_id: int | None, model: str) -> None:
    """Note which model + adapter wrote an answer (an event until history has a column for it)."""
    if message_id is not None:
        history.record_event(session_id, ANSWER_MODEL_EVENT, f"{message_id} {model}")


def answer_models(history: Any, session_id: int) -> dict[int, str]:
    """{message id: model + adapter} for the answers of a session."""
    out: dict[int, str] = {}
    for kind, detail in history.events(session_id):
        if kind == ANSWER_MODEL_EVENT and " " in detail:
            number, model = detail.split(" ", 1)
            if number.isdigit():
                out[int(number)] = model
    return out


def session_with_model(session: Any, spec: str | None, progress: Any = None) -> Any:
    """A new ChatSession on another base model (None/"" = the embedded one), keeping the history,
    personas and knowledge base of `session`. Loads weights: run it off the UI thread."""
    from dataclasses import replace as replace_settings

    from tuichat.core.session import ChatSession
    from tuichat.runtime.transformers_backend import Engine

    settings = session.settings
    engine = Engine.load(spec or None, None, device=settings.device, dtype=settings.dtype,
                         load_in_4bit=settings.load_in_4bit, progress=progress)
    catalog.remember_model(spec)
    fresh = replace_settings(settings, model=spec or None, adapter=None)
    return ChatSession(engine, session.history, session.personas, session.knowledge, fresh, session.persona.name)
