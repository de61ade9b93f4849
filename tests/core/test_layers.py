"""Imports point one way: the core never pulls in textual; the UI never pulls in torch at import time."""
import subprocess
import sys

import pytest


def imported_after(module: str) -> set[str]:
    code = f"import sys, {module}; print('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return {name.split(".")[0] for name in out.split()}


@pytest.mark.parametrize("module", ["tuichat.runtime.transformers_backend", "tuichat.core.session", "tuichat.core.prompt", "tuichat.core.history", "tuichat.bootstrap",
                                    "tuichat.runtime.models", "tuichat.personas.library", "finetune"])
def test_core_does_not_import_textual(module):
    assert "textual" not in imported_after(module)


@pytest.mark.parametrize("module", ["tuichat.ui", "tuichat.cli.main", "tuichat.core.session"])
def test_ui_and_cli_do_not_import_torch_at_module_level(module):
    heavy = imported_after(module) & {"torch", "transformers", "peft", "llama_index"}
    assert not heavy, f"{module} imports {heavy} at module level"
