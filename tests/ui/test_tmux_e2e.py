"""End to end in a real terminal: tmux runs the `tuichat` command on the embedded model; we type a
question, watch the answer stream, start a new session with ctrl+n, quit by typing `quit`, and find
both sessions in history afterwards. Needs tmux (skipped without it)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tuichat.core.history import History

TUICHAT = Path(sys.executable).parent / "tuichat"
QUESTION = "What is the capital of France?"

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None or not TUICHAT.exists(),
                                reason="needs tmux and the installed `tuichat` command")


class Tmux:
    """One private tmux server (its own socket), so the test never touches anyone else's sessions."""

    def __init__(self, name: str) -> None:
        self.base = ["tmux", "-L", name]
        # The server passes its environment to the app: without pytest's COLUMNS/LINES (80×24), so the
        # app sizes itself from the terminal like it would for a user.
        self.env = {k: v for k, v in os.environ.items()
                    if k not in ("COLUMNS", "LINES") and not k.startswith(("PYTEST_", "TEXTUAL_", "TMUX"))}

    def run(self, *args: str) -> str:
        return subprocess.run([*self.base, *args], capture_output=True, text=True, check=True, env=self.env).stdout

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", "app")

    def wait_for(self, condition, timeout: float, what: str) -> str:
        deadline = time.monotonic() + timeout
        while True:
            text = self.screen()
            if condition(text):
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; the screen shows:\n{text}")
            time.sleep(0.1)

    def close(self) -> None:
        subprocess.run([*self.base, "kill-server"], capture_output=True)


def answer_so_far(screen: str) -> str:
    """The text under the last 'Assistant' label, above the message box."""
    lines = screen.splitlines()
    labels = [i for i, line in enumerate(lines) if line.strip().startswith("Assistant")]  # "Assistant · model"
    if len(labels) < 2:  # the first one is the greeting
        return ""
    below = lines[labels[-1] + 1:]
    box = next((i for i, line in enumerate(below) if line.startswith("▊")), len(below))
    return " ".join(" ".join(below[:box]).split())


@pytest.fixture
def tmux(embedded_model_dir, tuichat_home):
    session = Tmux(f"tuichat-test-{os.getpid()}")
    yield session
    session.close()


def test_tuichat_in_tmux_streams_an_answer_starts_a_new_session_and_quits(tmux, tuichat_home):
    env = {"TUICHAT_HOME": str(tuichat_home), "TUICHAT_MODEL_CACHE": os.environ["TUICHAT_MODEL_CACHE"],
           "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"}
    command = (f"{TUICHAT} --no-knowledge --temperature 0 --max-new-tokens 40; "
               "echo tuichat exited with $?; sleep 60")
    tmux.run("new-session", "-d", "-s", "app", "-x", "100", "-y", "30",
             *[arg for key, value in env.items() for arg in ("-e", f"{key}={value}")], command)

    tmux.wait_for(lambda s: s.lstrip().startswith("ready"), 180, "the model to load")
    tmux.run("send-keys", "-t", "app", "-l", QUESTION)
    tmux.run("send-keys", "-t", "app", "Enter")
    streaming = tmux.wait_for(lambda s: s.lstrip().startswith("answering") and answer_so_far(s), 60,
                              "part of the answer on screen while it is being written")
    final = tmux.wait_for(lambda s: s.lstrip().startswith("ready") and "tok/s" in s, 120, "the answer to finish")

    history = History(tuichat_home / "data" / "history.sqlite3")
    first = history.sessions()[0]
    stored = history.messages(first.id)
    assert [m.role for m in stored] == ["assistant", "user", "assistant"]
    answer = stored[-1]
    assert stored[1].content == QUESTION and answer.content.strip() and not answer.partial
    first_words = " ".join(answer.content.split()[:3])
    assert first_words in " ".join(final.split()), "the finished answer is on screen"
    assert answer.content.strip().startswith(answer_so_far(streaming).split()[0])

    tmux.run("send-keys", "-t", "app", "C-n")
    tmux.wait_for(lambda s: QUESTION not in s, 20, "ctrl+n to clear the conversation")

    tmux.run("send-keys", "-t", "app", "-l", "quit")
    tmux.run("send-keys", "-t", "app", "Enter")
    tmux.wait_for(lambda s: "tuichat exited with 0" in s, 30, "a clean exit")

    sessions = history.sessions()
    assert len(sessions) == 2 and sessions[1].id == first.id
    assert [m.role for m in history.messages(sessions[0].id)] == ["assistant"]  # the new session's greeting
