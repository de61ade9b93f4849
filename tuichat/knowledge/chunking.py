"""Split documents into passages at Chinese and English sentence boundaries.

LlamaIndex's SentenceSplitter does the packing (paragraphs first, then sentences, then clauses, with
overlap); its default sentence tokenizer is NLTK punkt, which knows only Western punctuation and
would cut Chinese text mid-sentence. We hand it our own splitter that ends sentences after
。！？；… and after . ! ? followed by whitespace (so "3.11", "os.path" and "e.g." mid-line survive).
"""
from __future__ import annotations

import re
from functools import lru_cache

CHUNK_SIZE = 200  # tokens (tiktoken cl100k); MiniLM truncates at 256 word pieces, so stay under it
CHUNK_OVERLAP = 30
CHUNKING_VERSION = f"zh-en-v1-{CHUNK_SIZE}-{CHUNK_OVERLAP}"  # stored in the manifest: a change re-chunks

# A sentence ends after CJK terminal punctuation (plus closing quotes/brackets), or after Western
# terminal punctuation followed by whitespace, or at a line break.
_SENTENCE_END = re.compile(
    r"(?<=[。！？；…])[”’」』）)\]]*"
    r"|(?<=[.!?])[\"')\]]*(?=\s)"
    r"|(?<=\n)"
)
_CLAUSE_REGEX = r"[^,.;，、；。？！]+[,.;，、；。？！]?"  # secondary split for over-long sentences


def split_sentences(text: str) -> list[str]:
    """Sentences with their trailing punctuation/whitespace kept, so "".join(result) == text."""
    pieces: list[str] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        end = match.end()
        # keep the whitespace that follows a sentence with it (the splitter rejoins pieces as is)
        while end < len(text) and text[end] in " \t":
            end += 1
        if end > start:
            pieces.append(text[start:end])
            start = end
    if start < len(text):
        pieces.append(text[start:])
    return [p for p in pieces if p]


@lru_cache(maxsize=1)
def splitter():
    from llama_index.core.node_parser import SentenceSplitter

    return SentenceSplitter(
        chunk_size=CHUNK_SIZE, chunk_overlap=CHUNK_OVERLAP, paragraph_separator="\n\n",
        chunking_tokenizer_fn=split_sentences, secondary_chunking_regex=_CLAUSE_REGEX,
    )


def chunk_text(text: str) -> list[str]:
    """The passages of one document, stripped, empty ones dropped."""
    return [c.strip() for c in splitter().split_text(text) if c.strip()]
