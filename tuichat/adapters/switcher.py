"""Live adapter swap on one loaded base: load an adapter on first use, then switch by name.

Wraps any `ModelRuntime` (it only calls the seam's `load_adapter` / `set_adapter`) and remembers
which folder each loaded name came from, which the eval cache and the history need. Loading reads
weights, so callers run `activate` off the UI thread. A folder that vanished or holds broken JSON
is refused with one line (`AdapterProblem`) before the runtime sees it.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tuichat.adapters.catalog import check_adapter_folder


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

    def describe(self) -> str:
        """'model + adapter' as the status bar and history show it."""
        return self.runtime.model_name
