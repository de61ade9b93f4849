"""Find adapters and local models, and read what `finetune` wrote about each adapter.

Adapters come from `./runs/`, the folders in the `adapter_dirs` setting, and every `--adapter`.
Provenance is read from the files a finetune run leaves (`tuichat_adapter.json`, `finetune_run.json`,
`loss.csv`); a plain PEFT folder shows what its `adapter_config.json` declares. Nothing here loads
weights or imports torch: listing is cheap and safe on any thread. A folder that vanished or holds
broken JSON becomes an entry with a one-line `problem`, never an exception.
"""
from __future__ import annotations

import csv
import json
import os
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable

from tuichat import paths
from tuichat.errors import ModelLoadError
from tuichat.runtime.adapter_files import ADAPTER_META, read_adapter_json

ADAPTER_CONFIG = "adapter_config.json"
RUN_MARKER = "finetune_run.json"
RECENT_FILE = "recent_models.json"
RECENT_LIMIT = 12
SCAN_DEPTH = 3  # runs/<name>/<sub>/adapter_config.json is still found


class AdapterProblem(ModelLoadError):
    """An adapter folder that cannot be used: gone, not an adapter, or unreadable metadata."""


@dataclass(frozen=True)
class AdapterInfo:
    name: str
    path: Path
    base_model: str = ""  # the base it was trained on, as finetune or PEFT recorded it
    base_fingerprint: str = ""
    method: str = ""  # "lora", "qlora" or "full"
    dataset: str = ""
    rows: int | None = None  # training rows
    steps: int | None = None
    final_loss: float | None = None
    held_out_loss: float | None = None
    date: str = ""
    problem: str = ""  # why it cannot be used at all (gone, corrupt); "" when readable
    mismatch: str = ""  # why it does not fit the loaded base; "" when it fits or nobody checked
    deltas: dict[str, float] = field(default_factory=dict)  # benchmark → points vs the base

    @property
    def usable(self) -> bool:
        return not self.problem and not self.mismatch

    def provenance_lines(self) -> list[str]:
        """What made it: [base · method · steps · date, data (rows) · losses]; empty parts left out."""
        data = (Path(self.dataset).name or self.dataset) if self.dataset else ""
        if data and self.rows is not None:
            data += f" ({self.rows} rows)"
        first = [f"base {self.base_model}" if self.base_model else "", self.method.upper(),
                 f"{self.steps} steps" if self.steps is not None else "", self.date]
        second = [f"data {data}" if data else "",
                  f"loss {self.final_loss:.3f}" if self.final_loss is not None else "",
                  f"held-out {self.held_out_loss:.3f}" if self.held_out_loss is not None else ""]
        lines = [" · ".join(p for p in part if p) for part in (first, second)]
        return [line for line in lines if line] or ["no finetune metadata"]

    def provenance(self) -> str:
        return " · ".join(self.provenance_lines())


@dataclass(frozen=True)
class LocalModel:
    label: str
    path: str  # "" = the embedded default
    kind: str  # "embedded", "folder", "gguf"
    current: bool = False


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return read_adapter_json(path)
    except ModelLoadError as exc:  # the same one line, as the picker's own error type
        raise AdapterProblem(str(exc)) from None


def check_adapter_folder(path: str | os.PathLike) -> Path:
    """Raise AdapterProblem (one line) unless `path` is a readable PEFT adapter folder."""
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise AdapterProblem(f"adapter folder {folder} does not exist (deleted or moved?)")
    if not (folder / ADAPTER_CONFIG).is_file():
        raise AdapterProblem(f"{folder} is not a PEFT adapter folder (no {ADAPTER_CONFIG})")
    _read_json(folder / ADAPTER_CONFIG)
    if (folder / ADAPTER_META).is_file():
        _read_json(folder / ADAPTER_META)
    return folder


def _loss_csv(folder: Path) -> tuple[float | None, float | None]:
    """(last training loss, last held-out loss) from a run's loss.csv."""
    try:
        with (folder / "loss.csv").open(encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, csv.Error, UnicodeDecodeError):
        return None, None

    def last(column: str) -> float | None:
        for row in reversed(rows):
            try:
                return float(row[column])
            except (KeyError, TypeError, ValueError):
                continue
        return None

    return last("loss"), last("eval_loss")


def read_adapter(path: str | os.PathLike, name: str | None = None) -> AdapterInfo:
    """Provenance of one adapter folder; problems are recorded in the entry, never raised."""
    folder = Path(path).expanduser()
    info = AdapterInfo(name=name or folder.name, path=folder)
    try:
        check_adapter_folder(folder)
        config = _read_json(folder / ADAPTER_CONFIG)
        meta = _read_json(folder / ADAPTER_META) if (folder / ADAPTER_META).is_file() else {}
        run = _read_json(folder / RUN_MARKER) if (folder / RUN_MARKER).is_file() else {}
    except AdapterProblem as exc:
        return replace(info, problem=str(exc))
    result = meta.get("result") or run.get("result") or {}
    data = meta.get("data") or {}
    train_loss, held_loss = _loss_csv(folder)
    stamp = run.get("finished") or time.strftime("%Y-%m-%d %H:%M", time.localtime((folder / ADAPTER_CONFIG).stat().st_mtime))
    return replace(
        info,
        base_model=str(meta.get("base_model") or Path(str(config.get("base_model_name_or_path") or "")).name),
        base_fingerprint=str(meta.get("base_fingerprint") or ""),
        method=str(meta.get("method") or ("lora" if str(config.get("peft_type", "")).upper() == "LORA" else "")),
        dataset=str(data.get("path") or ""),
        rows=data.get("train") if isinstance(data.get("train"), int) else None,
        steps=result.get("global_step") if isinstance(result.get("global_step"), int) else None,
        final_loss=_number(result.get("final_logged_loss"), train_loss),
        held_out_loss=_number(result.get("eval_loss_after"), held_loss),
        date=str(stamp)[:16],
    )


def _number(value: Any, fallback: float | None) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else fallback


def _adapter_folders(root: Path, depth: int = SCAN_DEPTH) -> Iterable[Path]:
    """Folders under `root` holding adapter_config.json; a run's checkpoint-N copies are skipped."""
    try:
        children = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:
        return
    if (root / ADAPTER_CONFIG).is_file():
        yield root
        return
    if depth == 0:
        return
    for child in children:
        if not child.name.startswith("checkpoint-"):
            yield from _adapter_folders(child, depth - 1)


def discover(roots: Iterable[str | os.PathLike] = (), explicit: Iterable[str | os.PathLike] = ()) -> list[AdapterInfo]:
    """Every adapter under `roots` plus the `explicit` ones, each once, with unique names."""
    seen: dict[Path, AdapterInfo] = {}
    for given in explicit:  # listed even when broken or gone: the user asked for it by path
        folder = Path(given).expanduser()
        seen.setdefault(folder.resolve(), read_adapter(folder))
    for root in roots:
        for folder in _adapter_folders(Path(root).expanduser()):
            seen.setdefault(folder.resolve(), read_adapter(folder))
    return _unique_names(list(seen.values()))


def _unique_names(found: list[AdapterInfo]) -> list[AdapterInfo]:
    """Two runs called `lora` in different folders get `lora` and `parent/lora`."""
    counts: dict[str, int] = {}
    for info in found:
        counts[info.name] = counts.get(info.name, 0) + 1
    return [replace(i, name=f"{i.path.parent.name}/{i.name}") if counts[i.name] > 1 else i for i in found]


def mark_fit(found: list[AdapterInfo], base_name: str, fingerprint: str, aliases: Iterable[str] = ()) -> list[AdapterInfo]:
    """Set `mismatch` on adapters made for another base than the loaded one: by `fingerprint` when
    finetune recorded one, else by the base name PEFT declares (`aliases`: e.g. the model folder's name)."""
    names = {base_name.lower(), *(a.lower() for a in aliases)}
    out = []
    for info in found:
        reason = ""
        if info.problem:
            pass
        elif info.base_fingerprint and fingerprint and info.base_fingerprint != fingerprint:
            reason = f"trained on {info.base_model or 'another base'}, not on {base_name}"
        elif not info.base_fingerprint and info.base_model and info.base_model.lower() not in names:
            reason = f"made for {info.base_model}, not for {base_name}"
        out.append(replace(info, mismatch=reason))
    return out


def adapter_roots(settings: Any) -> list[Path]:
    """Where to look: ./runs and the `adapter_dirs` setting."""
    roots = [Path.cwd() / "runs"]
    roots += [Path(d).expanduser() for d in (getattr(settings, "adapter_dirs", None) or [])]
    return roots


# -- other local models --------------------------------------------------------------------------
def recent_models() -> list[str]:
    try:
        data = json.loads((paths.data_dir() / RECENT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []  # missing or damaged: start a fresh list
    return [str(p) for p in data if isinstance(p, str)] if isinstance(data, list) else []


def remember_model(spec: str | os.PathLike | None) -> None:
    """Put a model folder or GGUF file the user opened at the top of the recent list (atomic write)."""
    if not spec:
        return
    path = str(Path(spec).expanduser().resolve())
    listed = [path] + [p for p in recent_models() if p != path]
    target = paths.data_dir() / RECENT_FILE
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(listed[:RECENT_LIMIT], fh, indent=1)
    os.replace(tmp, target)


def _model_kind(path: Path) -> str | None:
    if path.is_file() and path.suffix.lower() == ".gguf":
        return "gguf"
    if path.is_dir() and (path / "config.json").is_file():
        return "folder"
    return None


def local_models(current: str | None, models_dir: str | None = None) -> list[LocalModel]:
    """The embedded model, recently opened ones that still exist, and models in `models_dir`."""
    now = str(Path(current).expanduser().resolve()) if current else ""
    found = [LocalModel("embedded SmolLM2-135M-Instruct", "", "embedded", current=not now)]
    candidates = [Path(p) for p in recent_models()]
    if models_dir and Path(models_dir).expanduser().is_dir():
        candidates += sorted(Path(models_dir).expanduser().iterdir())
    seen = {""}
    for path in candidates:
        key = str(path.resolve())
        kind = _model_kind(path)
        if kind and key not in seen:
            seen.add(key)
            found.append(LocalModel(path.name, key, kind, current=key == now))
    return found
