"""What the copy keys copy: the last answer, or one of its fenced code blocks."""
from __future__ import annotations

import re

# ``` or ~~~ fences, optional language; an unclosed fence (answer still streaming) runs to the end.
_FENCE = re.compile(r"^(?P<fence>```|~~~)[ \t]*(?P<lang>[\w+#.-]*)[^\n]*\n(?P<code>.*?)(?:^(?P=fence)[ \t]*$|\Z)",
                    re.MULTILINE | re.DOTALL)


def code_blocks(markdown: str) -> list[tuple[str, str]]:
    """(language, code) for every fenced block, in order."""
    return [(m.group("lang"), m.group("code").rstrip("\n")) for m in _FENCE.finditer(markdown)]


def pick_code_block(markdown: str, presses: int) -> tuple[int, int, str, str] | None:
    """The block to copy after `presses` presses: the last block first, then earlier ones, wrapping.
    Returns (number, total, language, code) or None when there is no block."""
    blocks = code_blocks(markdown)
    if not blocks:
        return None
    index = (len(blocks) - 1 - presses) % len(blocks)
    lang, code = blocks[index]
    return index + 1, len(blocks), lang, code
