"""What the knowledge base hands to its callers: plain dataclasses, no heavy imports."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Skipped:
    """A file that was not indexed, and why (shown in `kb status` and the knowledge panel)."""

    path: str  # relative to the knowledge folder
    reason: str


@dataclass
class SyncReport:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    chunks_embedded: int = 0  # chunks that went through the embedder (cache misses) in this sync
    seconds: float = 0.0
    notices: list[str] = field(default_factory=list)  # things the user should see (empty index, fallbacks)

    def summary(self) -> str:
        return (f"{len(self.added)} added, {len(self.changed)} changed, {len(self.removed)} removed, "
                f"{len(self.unchanged)} unchanged, {len(self.skipped)} skipped; "
                f"{self.chunks_embedded} chunks embedded in {self.seconds:.1f} s")


@dataclass(frozen=True)
class DocInfo:
    path: str
    chunks: int


@dataclass
class KBStatus:
    folder: Path
    documents: list[DocInfo]
    skipped: list[Skipped]
    index_dir: Path | None = None
    synced_at: float | None = None  # time.time() of the last completed sync; None: never synced
    notices: list[str] = field(default_factory=list)  # e.g. the embedder failed: keyword-only retrieval

    @property
    def chunk_count(self) -> int:
        return sum(d.chunks for d in self.documents)


@dataclass(frozen=True)
class Hit:
    """One retrieved passage. `score` is what the gate compares: the fused score in hybrid mode
    (the vector score alone in vector mode); its parts are kept for display and evaluation."""

    source: str
    text: str
    score: float
    vector_score: float
    keyword_score: float
    title_score: float = 0.0  # share of the question found in the file name / headings (hybrid only)


@dataclass
class Retrieval:
    query: str
    hits: list[Hit]
    gate: float
    passed_gate: bool

    @property
    def references(self) -> list[Hit]:
        """The hits that go into the prompt: those at or above the gate (none when it failed)."""
        return [h for h in self.hits if h.score >= self.gate] if self.passed_gate else []

    @property
    def best_score(self) -> float:
        return self.hits[0].score if self.hits else 0.0
