"""The one sanitiser for untrusted text that meets a terminal.

Documents, file names, persona files, imported cards, session titles and the model's own output can
all carry terminal control codes: ESC starts CSI (`ESC [ … 2J` clears the screen), OSC (`ESC ] 52 ;`
writes the clipboard, `ESC ] 0 ;` sets the window title), DCS, and the 8-bit C1 codes (U+0080–U+009F,
e.g. U+009B = CSI) do the same without ESC. `visible` turns every C0 control (except newline and tab),
DEL and every C1 control into a harmless visible stand-in, so no sequence can start; the rest of a
would-be sequence is then plain text the user can see ("␛]52;c;…").

The mapping is per character, so it is stream-safe by construction: an escape split across two
deltas of a streamed answer is caught in whichever delta holds its introducer, and
`visible(a) + visible(b) == visible(a + b)`.

`SafeOutput` applies it to everything a CLI command writes; the app applies it to untrusted text it
shows (and shows that text as Text/Content, never parsed as Textual markup).
"""
from __future__ import annotations

import contextlib
import re
import sys
from typing import Iterator, TextIO

KEPT = "\n\t"


def _stand_in(code: int) -> str:
    if code < 0x20:
        return chr(0x2400 + code)  # Unicode control pictures: ESC → ␛, BEL → ␇, CR → ␍
    if code == 0x7F:
        return "␡"
    return f"\\x{code:02x}"  # C1 controls have no picture: show the byte value


_TABLE = {c: _stand_in(c) for c in (*range(0x20), 0x7F, *range(0x80, 0xA0)) if chr(c) not in KEPT}
_CONTROL = re.compile("[" + "".join(re.escape(chr(c)) for c in _TABLE) + "]")


def visible(text: object) -> str:
    """`text` with every terminal control code except newline and tab made visible and inert."""
    text = str(text)
    return text.translate(_TABLE) if _CONTROL.search(text) else text  # clean text (nearly all) is not copied


def one_line(text: object) -> str:
    """`visible`, also with newlines and tabs shown, for text that must stay on one line."""
    return visible(text).replace("\n", "␤").replace("\t", " ")


def is_clean(text: str) -> bool:
    """True when `text` holds no control code that `visible` would replace."""
    return visible(text) == text


class SafeOutput:
    """A text stream wrapper that passes everything written through `visible`.

    `raw` is the wrapped stream, for tuichat's own progress lines that rewrite themselves with a
    carriage return (never for untrusted text).
    """

    def __init__(self, stream: TextIO) -> None:
        self.raw = stream

    def write(self, text: str) -> int:
        self.raw.write(visible(text))
        return len(text)

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str):  # isatty, flush, fileno, encoding, …
        return getattr(self.raw, name)


def raw_stream(stream: TextIO) -> TextIO:
    """The terminal stream under a `SafeOutput` (the stream itself otherwise): for trusted text only."""
    return stream.raw if isinstance(stream, SafeOutput) else stream


@contextlib.contextmanager
def safe_output() -> Iterator[None]:
    """While inside, sys.stdout and sys.stderr sanitise everything written to them."""
    saved = sys.stdout, sys.stderr
    if sys.stdout is not None and not isinstance(sys.stdout, SafeOutput):
        sys.stdout = SafeOutput(sys.stdout)
    if sys.stderr is not None and not isinstance(sys.stderr, SafeOutput):
        sys.stderr = SafeOutput(sys.stderr)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved
