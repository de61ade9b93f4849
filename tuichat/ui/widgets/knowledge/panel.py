"""Side panel: what the knowledge base holds (and what it could not read, with why), and what was
retrieved for the last answer — source, score, and whether it passed the similarity gate.

The panel also keeps the index current: every few seconds a thread worker makes the knowledge
base's cheap changed-files check and syncs when something changed. The screen sets `paused` while
an answer is generated, so indexing never competes with generation for the CPU.
"""
from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static
from textual.worker import Worker

from tuichat.text_safety import visible
from tuichat.ui import workers
from tuichat.ui.messages import KnowledgeStatusRead, KnowledgeSyncFailed, KnowledgeSyncProgressed

if TYPE_CHECKING:
    from tuichat.core.seams import KnowledgeView

PASSAGE_PREVIEW = 160  # characters of each retrieved passage shown
POLL_S = 3.0


class KnowledgePanel(VerticalScroll):
    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.border_title = "Knowledge"
        self._status: Any = None
        self._enabled = False
        self._retrieval: Any = None
        self._sync_text = ""
        self.knowledge: "KnowledgeView | None" = None
        self.paused = False
        self._sync_worker: Worker | None = None

    def compose(self) -> ComposeResult:
        # What was retrieved for the last answer changes every turn, so it comes first.
        yield Static(id="kb-retrieval")
        yield Static(id="kb-documents")

    def on_mount(self) -> None:
        self._refresh_text()

    def attach(self, knowledge: "KnowledgeView | None") -> None:
        """Show `knowledge` (a KnowledgeBase, or None when off) and keep its index in sync."""
        self.knowledge = knowledge
        self.show_status(None, enabled=knowledge is not None)
        if knowledge is not None:
            self._sync(report=True)
            self.set_interval(POLL_S, self._sync)

    def _sync(self, report: bool = False) -> None:
        if self.paused or (self._sync_worker is not None and not self._sync_worker.is_finished):
            return
        self._sync_worker = self.run_worker(
            partial(workers.sync_knowledge, self.knowledge, self.post_message, report),
            group="knowledge", thread=True, exit_on_error=False,
        )

    def on_knowledge_sync_progressed(self, message: KnowledgeSyncProgressed) -> None:
        message.stop()
        self.show_sync(message.text)

    def on_knowledge_status_read(self, message: KnowledgeStatusRead) -> None:
        message.stop()
        self.show_status(message.status)

    def on_knowledge_sync_failed(self, message: KnowledgeSyncFailed) -> None:
        message.stop()
        self.show_sync("")
        self.notify(message.error, title="Knowledge base", severity="error", timeout=15)

    def show_status(self, status: Any, enabled: bool = True) -> None:
        self._status, self._enabled, self._sync_text = status, enabled, ""
        self._refresh_text()

    def show_sync(self, text: str) -> None:
        self._sync_text = text
        self._refresh_text()

    def show_retrieval(self, retrieval: Any) -> None:
        self._retrieval = retrieval
        self._refresh_text()

    def _refresh_text(self) -> None:
        if not self.is_mounted:
            return
        self.query_one("#kb-documents", Static).update(documents_text(self._status, self._enabled, self._sync_text))
        self.query_one("#kb-retrieval", Static).update(retrieval_text(self._retrieval, self._enabled))


def documents_text(status: Any, enabled: bool, sync_text: str = "") -> Text:
    out = Text()
    if not enabled:
        out.append("The knowledge base is off", style="bold")
        out.append(" — answers use the model alone.\nStart tuichat with a knowledge folder to use one.\n")
        return out
    if sync_text:
        out.append(f"indexing: {sync_text}\n", style="italic")
    if status is None:
        out.append("reading the knowledge base…\n", style="italic")
        return out
    documents, skipped = list(status.documents), list(status.skipped)
    out.append(f"{_short(status.folder)}\n", style="bold")
    if not documents and not skipped:
        out.append("The knowledge base is empty: drop files into this folder and they are indexed.\n")
    if documents:
        out.append(f"{_count(len(documents), 'document')}, {_count(sum(d.chunks for d in documents), 'chunk')}\n",
                   style="dim")
    for doc in documents:
        out.append(f"{doc.chunks:>3} ", style="dim")
        out.append(f"{_short(doc.path)}\n")
    for item in skipped:
        out.append(f"✗ {_short(item.path)}", style="red")
        out.append(f"  {visible(item.reason)}\n", style="dim")
    for notice in getattr(status, "notices", []):
        out.append(f"! {visible(notice)}\n", style="yellow")
    return out


def retrieval_text(retrieval: Any, enabled: bool) -> Text:
    out = Text("Last answer\n", style="bold")
    if not enabled:
        return Text()
    if retrieval is None:
        out.append("nothing retrieved yet\n\n", style="dim")
        return out
    hits = list(retrieval.hits)
    verdict = "used" if retrieval.passed_gate else "not used (below the gate)"
    out.append(f"{len(hits)} passages, gate {retrieval.gate:.2f}: {verdict}\n",
               style="green" if retrieval.passed_gate else "yellow")
    for hit in hits:
        passed = hit.score >= retrieval.gate
        out.append(f"{'✓' if passed else '·'} {hit.score:.2f} ", style="green" if passed else "dim")
        out.append(f"{_short(hit.source)}\n", style="bold")
        text = visible(" ".join(str(hit.text).split()))
        out.append(f"  {text[:PASSAGE_PREVIEW]}{'…' if len(text) > PASSAGE_PREVIEW else ''}\n", style="dim")
    out.append("\n")
    return out


def _short(path: Any) -> str:
    """A path as the user would recognise it: relative to the working directory when inside it
    (file names are untrusted: control codes made visible)."""
    p = Path(str(path))
    try:
        return visible(p.relative_to(Path.cwd()))
    except ValueError:
        return visible(p if len(str(p)) < 48 else f"…/{p.parent.name}/{p.name}")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
