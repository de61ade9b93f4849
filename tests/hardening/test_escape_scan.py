"""The escape scan, in real terminals with the raw bytes captured: a document and a file name, a
persona, an imported card and the model's output carry an OSC 52 clipboard write, an OSC 0 title
change, a screen clear and an 8-bit CSI (tests/hardening/payloads.py). Every CLI command runs under
`script` (a pseudo-terminal; its typescript is exactly what the terminal received) and the app runs
in tmux with `pipe-pane` recording its output; none of the sequences may arrive as a sequence."""
from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from payloads import leaked

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
HOSTILE = [sys.executable, str(HERE / "hostile_runtime.py")]  # the real CLI, with the model's answer controlled

pytestmark = pytest.mark.skipif(shutil.which("script") is None or shutil.which("tmux") is None,
                                reason="needs `script` (util-linux) and tmux")


def child_env(home: Path) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "TMUX"))},
            "TUICHAT_HOME": str(home), "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1",
            "TOKENIZERS_PARALLELISM": "false", "TERM": "xterm-256color"}


def test_every_cli_command_in_a_real_terminal(tuichat_home, tmp_path, tiny_model_dir, hostile_kb, hostile_personas,
                                              hostile_card):
    tui = shlex.join(HOSTILE)
    kb, pd = shlex.quote(str(hostile_kb)), shlex.quote(str(hostile_personas))
    model = f"--model {shlex.quote(str(tiny_model_dir))} --max-new-tokens 4"
    missing = shlex.quote(str(tmp_path / "gone\x1b]0;HARDEN-TITLE\x07"))
    commands = [
        f"{tui} kb sync --knowledge {kb}", f"{tui} kb status --knowledge {kb}",
        f"{tui} kb query brass teapots descaled --knowledge {kb}",
        f"{tui} personas list --personas-dir {pd}", f"{tui} personas show hostile --personas-dir {pd}",
        f"{tui} personas show hostile --raw --personas-dir {pd}",
        f"{tui} personas import {shlex.quote(str(hostile_card))} --name cardy", f"{tui} personas show cardy",
        f"{tui} personas export cardy",
        f"{tui} ask {model} --knowledge {kb} how often should brass teapots be descaled",
        f"printf 'hello\\npersona cardy\\nquit\\n' | {tui} --plain {model} --no-knowledge --persona hostile "
        f"--personas-dir {pd}",
        f"{tui} kb status --knowledge {missing}",
    ]
    script = tmp_path / "all.sh"
    script.write_text("\n".join(f"{c}; echo \"[exit $?]\"" for c in commands) + "\n", encoding="utf-8")
    typescript = tmp_path / "typescript"
    subprocess.run(["script", "-q", "-c", f"bash {shlex.quote(str(script))}", str(typescript)],
                   env=child_env(tuichat_home), stdin=subprocess.DEVNULL, capture_output=True, timeout=600)
    raw = typescript.read_bytes()
    exits = raw.count(b"[exit 0]")
    assert exits == len(commands) - 1 and b"[exit 2]" in raw, raw.decode("utf-8", "replace")[-3000:]
    assert not leaked(raw), leaked(raw)
    shown = raw.decode("utf-8")
    # what the sequences became is on screen: proof the hostile text did pass through each boundary
    for stand_in in ("harden␛]0;HARDEN-TITLE", "Evil ␛]52;c;", "Hi from the card ␛]52;c;", "HARDENCLR␛[2J",
                     "[sources: harden␛]0;HARDEN-TITLE", "Sure. ␛]52;c;SEFSREVOLUNMSVA=␇", "gone␛]0;HARDEN-TITLE␇"):
        assert stand_in in shown, stand_in


class Tmux:
    def __init__(self, name: str, env: dict[str, str]) -> None:
        self.base, self.env = ["tmux", "-L", name], env

    def run(self, *args: str) -> str:
        return subprocess.run([*self.base, *args], capture_output=True, text=True, check=True, env=self.env).stdout

    def wait_for(self, condition, timeout: float, what: str) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.run("capture-pane", "-p", "-t", "app")
            if condition(screen):
                return screen
            assert time.monotonic() < deadline, f"timed out waiting for {what}; the screen shows:\n{screen}"
            time.sleep(0.2)

    def keys(self, *keys: str, literal: bool = False) -> None:
        self.run("send-keys", "-t", "app", *(["-l"] if literal else []), *keys)


def test_the_app_in_a_real_terminal(tuichat_home, tmp_path, tiny_model_dir, hostile_kb, hostile_personas,
                                    hostile_card):
    from tuichat.cli.main import main

    assert main(["personas", "import", str(hostile_card), "--name", "cardy"]) == 0
    env = child_env(tuichat_home)
    raw_file = tmp_path / "raw.bin"
    tmux = Tmux(f"harden-{os.getpid()}", env)
    command = shlex.join([*HOSTILE, "--model", str(tiny_model_dir), "--max-new-tokens", "4", "--persona", "hostile",
                          "--personas-dir", str(hostile_personas), "--knowledge", str(hostile_kb)])
    try:
        # The app starts after a pause, so pipe-pane is recording before its first byte.
        tmux.run("new-session", "-d", "-s", "app", "-x", "160", "-y", "50",
                 *[arg for key, value in env.items() if key in ("TUICHAT_HOME", "PYTHONPATH", "HF_HUB_OFFLINE",
                                                                  "OMP_NUM_THREADS", "TOKENIZERS_PARALLELISM",
                                                                  "TUICHAT_MODEL_CACHE")
                   for arg in ("-e", f"{key}={value}")],
                 f"sleep 1; {command}; echo app exited with $?; sleep 60")
        tmux.run("pipe-pane", "-o", "-t", "app", f"cat >> {shlex.quote(str(raw_file))}")
        tmux.wait_for(lambda s: s.lstrip().startswith("ready"), 180, "the model to load")
        tmux.keys("C-b")
        tmux.wait_for(lambda s: "harden␛]0;HARDEN-TITLE" in s, 120, "the knowledge panel with the hostile document")
        tmux.keys("how often should brass teapots be descaled", literal=True)
        tmux.keys("Enter")
        tmux.wait_for(lambda s: "Sure. ␛]52;c;" in s and s.lstrip().startswith("ready"), 120, "the hostile answer")
        tmux.keys("C-o")
        tmux.wait_for(lambda s: "Cardy␛]0;HARDEN-TITLE" in s, 30, "the persona picker with the imported card")
        tmux.keys("Escape")  # alone: an escape followed at once by another key reads as alt+key
        tmux.wait_for(lambda s: "type to filter" not in s, 30, "the picker to close")
        tmux.keys("C-l")
        tmux.wait_for(lambda s: "Enter resumes" in s, 30, "the sessions list")
        tmux.keys("Escape")
        tmux.wait_for(lambda s: "Enter resumes" not in s, 30, "the sessions list to close")
        tmux.keys("quit", literal=True)
        tmux.keys("Enter")
        tmux.wait_for(lambda s: "app exited with 0" in s, 60, "a clean exit")
    finally:
        subprocess.run([*tmux.base, "kill-server"], capture_output=True)
    raw = raw_file.read_bytes()
    assert len(raw) > 1000 and "␛]52;c;SEFSREVOLUNMSVA=␇".encode() in raw  # the stand-ins were drawn
    assert not leaked(raw), leaked(raw)
