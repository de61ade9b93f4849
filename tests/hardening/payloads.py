"""Escape sequences with unique payloads: an OSC 52 clipboard write, an OSC 0 title change, a screen
clear, and the 8-bit CSI. A test feeds them through a boundary and asserts none arrives as a sequence."""
from __future__ import annotations

CLIPBOARD = "\x1b]52;c;SEFSREVOLUNMSVA=\x07"  # base64 of "HARDEN-CLIP"
TITLE = "\x1b]0;HARDEN-TITLE\x1b\\"
CLEAR = "HARDENCLR\x1b[2J"
C1_CSI = "HARDENC1\x9b2J"
ALL = CLIPBOARD + TITLE + CLEAR + C1_CSI
MARKUP = "[@click=app.quit]HARDEN-CLICK[/] [b]HARDEN-BOLD[/b]"

# What must never appear in the bytes a terminal receives.
# U+009B is C2 9B in UTF-8 (a lone 9B byte is also a continuation byte of ordinary characters).
FORBIDDEN = (b"\x1b]52;c;SEFSREVOLUNMSVA=", b"\x1b]0;HARDEN-TITLE", b"HARDENCLR\x1b[2J", "\x9b".encode())


def leaked(raw: bytes) -> list[bytes]:
    return [seq for seq in FORBIDDEN if seq in raw]
