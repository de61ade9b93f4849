"""Keyword side of retrieval: tokenisation that understands Chinese, and a bounded keyword score.

Splitting on `\\w+` would treat a whole run of Chinese characters as one word, so text that contains
CJK is first segmented with jieba and re-joined with spaces. jieba is only loaded when CJK text shows
up (loading its dictionary costs about a second).

BM25 scores are unbounded, so they cannot be compared with a fixed gate; the keyword score we fuse
and gate on is IDF-weighted query coverage: the share of the query's information (sum of IDF of its
terms) that a passage contains, in [0, 1]. Rare exact terms (error codes, names, numbers) weigh most.
Words that only shape a question ("what is", "answer briefly") are stop words: left in, a word the
documents never use gets the highest IDF and drags every passage's coverage down.

Title coverage is the same share measured on a passage's title words only (its file name and the
Markdown headings inside it): for "What is a Python list?" the passage titled "Lists" is the answer,
although a passage that merely mentions both "Python" and "list" covers the question just as well.
"""
from __future__ import annotations

import math
import re
from functools import lru_cache

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
# words, identifiers and numbers such as E4012, 3.11, snake_case, __init__
_WORD = re.compile(r"\d+(?:\.\d+)+|\w+", re.UNICODE)
_HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+(.+)$", re.MULTILINE)  # Markdown ATX headings

_EN_STOP = set("""
a an and are as at be but by can could did do does doing for from had has have how i if in into is it
its me my of on or our should so than that the their them then there these they this those to was we
were what when where which who whom why will with would you your about after before between both each
few more most other some such no nor not only own same too very just also may might must shall use
used using tell give explain describe please called name mean means
answer answers reply briefly brief concise concisely shortly hi hello hey thanks thank kindly""".split())
_ZH_STOP = set("的 了 是 在 和 与 或 吗 呢 吧 啊 么 什么 怎么 怎样 如何 哪 哪个 哪些 为什么 这 那 这个 那个 "
               "一个 有 也 就 都 而 及 被 把 对 从 中 上 下 请 我 你 他 她 它 我们 你们 可以 需要 使用 用".split())


def has_cjk(text: str) -> bool:
    return bool(_CJK.search(text))


def cjk_count(text: str) -> int:
    return len(_CJK.findall(text))


def cjk_share(text: str) -> float:
    """Fraction of the letters in `text` that are CJK (decides how much to trust the English embedder)."""
    letters = [c for c in text if c.isalnum()]
    return sum(1 for c in letters if _CJK.match(c)) / len(letters) if letters else 0.0


@lru_cache(maxsize=1)
def _jieba():
    import logging

    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return jieba


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer  # PyStemmer

    return Stemmer.Stemmer("english")


def segment(text: str) -> str:
    """Text with Chinese runs split into jieba words separated by spaces; other text unchanged."""
    if not has_cjk(text):
        return text
    jieba = _jieba()
    return _CJK_RUN.sub(lambda m: " " + " ".join(jieba.lcut(m.group(0))) + " ", text)


def tokens(text: str) -> list[str]:
    """Lower-cased, stemmed (English), stop-word-free terms of `text`."""
    out = []
    stem = _stemmer().stemWord
    for word in _WORD.findall(segment(text).lower()):
        if word in _EN_STOP or word in _ZH_STOP or word == "_":
            continue
        out.append(stem(word) if word.isascii() and word.isalpha() else word)
    return out


def idf(df: int, n_docs: int) -> float:
    """BM25's (Lucene) IDF; a term never seen gets the highest value."""
    return math.log(1.0 + (n_docs - df + 0.5) / (df + 0.5))


def title_terms(source: str, text: str) -> set[str]:
    """Terms of a passage's title: its file name without folder, extension and number prefixes
    ("sample/02-lists.md" -> {"list"}), plus the Markdown headings inside the passage."""
    stem = source.replace("\\", "/").rsplit("/", 1)[-1].rsplit(".", 1)[0]
    words = [re.sub(r"[-_.]+", " ", stem)] + _HEADING.findall(text)
    return {t for w in words for t in tokens(w) if not t.isdigit()}
