"""Constants and helpers the server tests share (a module of its own: every tests/*/conftest.py is
named `conftest`, so importing from one is ambiguous when the whole suite runs)."""
import socket

KEY_ENV = "TUICHAT_TEST_SERVER_KEY"
KEY = "sk-test-d0c5e7"
NAMES = ("smol", "smol-b")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
