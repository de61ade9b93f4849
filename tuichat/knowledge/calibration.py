"""Per-embedder calibration of vector similarities, measured on each index when it is built.

Raw cosine similarities mean different things per embedder: MiniLM puts unrelated text near 0.1
and good matches at 0.5–0.8; multilingual-e5 puts unrelated text at 0.8 and good matches at 0.9.
The gate (0.5 by default) and the keyword fusion were tuned on MiniLM's scale, so MiniLM is the
reference and every other embedder is mapped onto that scale. Two numbers are measured per index:
  floor    the 95th percentile of similarity between built-in off-topic questions and the passages
  own      the median similarity between a sentence taken from a passage and that passage
A relevant question gets less close to its passage than the passage's own sentence does, and how
much less is a property of the embedder (e5's "query:"/"passage:" asymmetry): QUESTION_REACH is
(median relevant question's best similarity − floor) / (own − floor), measured on labelled
question sets. MiniLM reaches 0.86 of the way on knowledge/sample; e5 0.63 on the Chinese fixture
(tests/knowledge/data/zh) and 0.59 on knowledge/sample, so with `own` alone as the ceiling e5's
relevant questions landed low and only 11 of 24 Chinese ones passed the gate. So the ceiling is
scaled such that a typical relevant question lands where it does for MiniLM:
  ceiling = floor + (own - floor) * QUESTION_REACH[embedder] / QUESTION_REACH["minilm"]
and a similarity s becomes REF_FLOOR + (s - floor) * (REF_CEILING - REF_FLOOR) / (ceiling - floor),
clipped to [0, 1], where REF_FLOOR / REF_CEILING are MiniLM's floor and own measured the same way on
knowledge/sample. The calibration is stored with the index (manifest and passages.json); one of an
older VERSION is measured again on the next sync.
"""
from __future__ import annotations

import numpy as np

from tuichat.knowledge.chunking import split_sentences

VERSION = 2  # 2: the ceiling accounts for QUESTION_REACH
IDENTITY = {"floor": 0.0, "ceiling": 1.0, "ref_floor": 0.0, "ref_ceiling": 1.0, "version": VERSION}
REF_FLOOR, REF_CEILING = 0.10, 0.56  # MiniLM on knowledge/sample (calibrate() there: 0.1006, 0.5643)
OFF_TOPIC = [
    "What is the capital of France?", "Who won the football world cup in 1998?",
    "How do I reset my email password?", "Will the stock market go up tomorrow?",
    "What is a good recipe for chocolate cake?", "How far away is the moon?",
    "Which programming language should I learn first?", "What time is it in Tokyo?",
    "法国的首都是哪里？", "明天股票市场会上涨吗？", "怎么做巧克力蛋糕？", "月亮离地球有多远？",
    "一九九八年世界杯冠军是谁？", "我的邮箱密码忘了怎么办？", "东京现在几点？", "应该先学哪种编程语言？",
]
SAMPLE = 24  # passages whose own sentences measure `own`
QUESTION_REACH = {"minilm": 0.86, "e5": 0.61}  # see the module docstring; unknown embedders: MiniLM's


def _probe_sentence(text: str) -> str:
    sentences = [s.strip() for s in split_sentences(text) if len(s.strip()) >= 8] or [text.strip()]
    return max(sentences[:3], key=len)[:200]


def calibrate(embedder, texts: list[str], matrix: np.ndarray) -> dict[str, float]:
    """floor and ceiling for `embedder` on these passages (`matrix` holds their vectors, row by row)."""
    if embedder.dim == 0 or not len(texts) or matrix.shape[1] == 0 or embedder.name == "minilm":
        return dict(IDENTITY)  # keyword-only, empty, or the reference scale itself
    # An English-only embedder finds all Chinese alike (~0.6): its floor is measured in English only.
    probes = np.stack([embedder.query(q) for q in OFF_TOPIC if embedder.multilingual or q.isascii()])
    floor = float(np.quantile(matrix @ probes.T, 0.95))
    rows = np.unique(np.linspace(0, len(texts) - 1, min(SAMPLE, len(texts))).astype(int))
    own = np.stack([embedder.query(_probe_sentence(texts[i])) for i in rows])
    own_sim = float(np.median(np.sum(own * matrix[rows], axis=1)))
    reach = QUESTION_REACH.get(embedder.name, QUESTION_REACH["minilm"]) / QUESTION_REACH["minilm"]
    ceiling = floor + max(own_sim - floor, 0.05) * reach
    return {"floor": round(floor, 4), "ceiling": round(ceiling, 4), "own": round(own_sim, 4),
            "ref_floor": REF_FLOOR, "ref_ceiling": REF_CEILING, "version": VERSION}


def calibrated(similarity: np.ndarray | float, calibration: dict[str, float]):
    c = calibration
    slope = (c["ref_ceiling"] - c["ref_floor"]) / (c["ceiling"] - c["floor"])
    return np.clip(c["ref_floor"] + (np.asarray(similarity, dtype=np.float32) - c["floor"]) * slope, 0.0, 1.0)
