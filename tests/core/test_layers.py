"""Imports point one way: the core never pulls in textual; no UI or CLI module pulls in torch,
transformers, peft or LlamaIndex at import time (every module of tuichat.ui is imported in a fresh
interpreter: if no heavy package is loaded after importing them all, none of them loads one); the UI
sees the core only through the Protocols in tuichat.core.seams."""
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import tuichat.ui

HEAVY = {"torch", "transformers", "peft", "llama_index"}
UI_MODULES = sorted(m.name for m in pkgutil.walk_packages(tuichat.ui.__path__, "tuichat.ui."))


def imported_after(*modules: str) -> set[str]:
    """Top-level packages loaded by importing `modules` together in a fresh interpreter."""
    code = f"import sys; import {', '.join(modules)}; print('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return {name.split(".")[0] for name in out.split()}


@pytest.mark.parametrize("module", ["tuichat.runtime.transformers_backend", "tuichat.core.session", "tuichat.core.prompt", "tuichat.core.history", "tuichat.bootstrap",
                                    "tuichat.runtime.models", "tuichat.personas.library", "finetune"])
def test_core_does_not_import_textual(module):
    assert "textual" not in imported_after(module)


def test_the_test_sees_every_ui_module():
    assert {"tuichat.ui.app", "tuichat.ui.screens.chat", "tuichat.ui.widgets.chat.pane",
            "tuichat.ui.workers"} <= set(UI_MODULES) and len(UI_MODULES) > 20


def test_no_ui_or_cli_module_imports_a_heavy_library_at_module_level():
    modules = UI_MODULES + ["tuichat.cli.main", "tuichat.core.session", "tuichat.core.seams"]
    if imported_after(*modules) & HEAVY:  # importing all of them loaded one: name the culprits
        found = {name: imported_after(name) & HEAVY for name in modules}
        pytest.fail(f"heavy imports at module level: { {k: v for k, v in found.items() if v} }")


def test_the_ui_names_no_core_class_only_the_seams():
    ui = Path(tuichat.ui.__file__).parent
    offenders = [str(p.relative_to(ui)) for p in ui.rglob("*.py")
                 if any(f"import {name}" in p.read_text(encoding="utf-8") for name in ("ChatSession", "KnowledgeBase", "History\n"))]
    assert not offenders, f"UI modules importing core classes instead of tuichat.core.seams: {offenders}"


def test_finetune_needs_no_chat_front_end():
    """finetune and its eval are a toolkit of their own: they never import tuichat's CLI or UI."""
    loaded = subprocess.run([sys.executable, "-c", "import sys, finetune.__main__, finetune.eval.__main__; "
                             "print('\\n'.join(m for m in sys.modules if m.startswith('tuichat.')))"],
                            capture_output=True, text=True, check=True).stdout.split()
    assert not [m for m in loaded if m.startswith(("tuichat.cli", "tuichat.ui"))], loaded
