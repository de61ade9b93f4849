"""The persona library: finds persona files and keeps them by name.

Three layers, later ones override earlier ones by `name`: the bundled `personas/` folder, the user's
`<config>/personas/`, then folders (or single files) given on the command line. A bad file never
stops the others from loading: it becomes one line in `PersonaLibrary.errors` ("path:line: what is
wrong") and the app starts anyway. Files are re-read when their mtime/size change, so edits apply
without a restart.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from tuichat import paths
from tuichat.errors import PersonaError
from tuichat.personas.persona_file import DEFAULT_PERSONA, README, SUFFIX, Persona, load_persona_file


def _persona_files(location: Path) -> list[Path]:
    if location.is_file():
        return [location]
    try:
        return sorted(p for p in location.iterdir()
                      if p.suffix == SUFFIX and p.is_file() and not p.name.startswith(".") and p.name.lower() != README)
    except OSError:
        return []


class PersonaLibrary:
    """All personas available now, by name. Cheap to ask repeatedly: a scan is a few stat() calls."""

    def __init__(self, extra_dirs: Sequence[Path] = ()) -> None:
        self.locations: list[tuple[str, Path]] = [
            ("bundled", paths.bundled_personas_dir()),
            ("user", paths.user_personas_dir()),
            *(("extra", Path(p).expanduser()) for p in extra_dirs),
        ]
        self._signature: tuple | None = None
        self._personas: dict[str, Persona] = {}
        self._kinds: dict[str, str] = {}
        self._shadowed: dict[str, list[Path]] = {}
        self._errors: list[str] = []
        self._broken: dict[str, str] = {}

    def _scan_signature(self) -> tuple:
        entries = []
        for _, location in self.locations:
            for path in _persona_files(location):
                try:
                    st = path.stat()
                except OSError:
                    continue
                entries.append((str(path), st.st_mtime_ns, st.st_size))
        return tuple(entries)

    def _refresh(self) -> None:
        signature = self._scan_signature()
        if signature == self._signature:
            return
        personas: dict[str, Persona] = {}
        kinds: dict[str, str] = {}
        shadowed: dict[str, list[Path]] = {}
        errors: list[str] = []
        broken: dict[str, str] = {}  # file stem -> its error, so get() can explain a missing name
        for kind, location in self.locations:
            if kind == "extra" and not location.exists():
                errors.append(f"{location}: personas folder or file not found")
                continue
            seen_here: dict[str, Path] = {}
            for path in _persona_files(location):
                try:
                    persona = load_persona_file(path)
                except PersonaError as exc:
                    errors.append(str(exc))
                    broken[path.stem] = str(exc)
                    continue
                if persona.name in seen_here:
                    errors.append(f"{path}: duplicate persona name '{persona.name}' (already defined in {seen_here[persona.name]}); ignored")
                    continue
                seen_here[persona.name] = path
                if persona.name in personas:  # a later layer overrides an earlier one
                    shadowed.setdefault(persona.name, []).append(personas[persona.name].source)
                personas[persona.name] = persona
                kinds[persona.name] = kind
        self._personas, self._kinds, self._shadowed, self._errors = personas, kinds, shadowed, errors
        self._broken = broken
        self._signature = signature

    def get(self, name: str) -> Persona:
        self._refresh()
        persona = self._personas.get(name)
        if persona is not None:
            return persona
        if name in self._broken:
            raise PersonaError(f"persona '{name}' could not be loaded: {self._broken[name]}")
        available = ", ".join(sorted(self._personas)) or "none"
        raise PersonaError(f"unknown persona '{name}'; available: {available}")

    def all(self) -> list[Persona]:
        self._refresh()
        return sorted(self._personas.values(), key=lambda p: (p.name != DEFAULT_PERSONA, p.name))

    def names(self) -> list[str]:
        return [p.name for p in self.all()]

    @property
    def errors(self) -> list[str]:
        self._refresh()
        return list(self._errors)

    def sources(self) -> dict[str, Path]:
        self._refresh()
        return {name: p.source for name, p in self._personas.items()}

    def origin(self, name: str) -> str:
        """'bundled', 'user' or 'extra' for a loaded persona."""
        self._refresh()
        return self._kinds[name]

    def shadowed(self, name: str) -> list[Path]:
        """Files of the same name that `name`'s file overrides (earliest first)."""
        self._refresh()
        return list(self._shadowed.get(name, []))
