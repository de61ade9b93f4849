"""Knowledge base: documents dropped into a folder, indexed with LlamaIndex (MiniLM or e5 vectors + keywords),
retrieved with scores and a similarity gate.

Light to import: only dataclasses and the KnowledgeBase class (whose heavy imports happen inside its
methods), so the TUI can import this package without loading LlamaIndex or torch.
"""
from tuichat.knowledge.base import KnowledgeBase
from tuichat.knowledge.results import DocInfo, Hit, KBStatus, Retrieval, Skipped, SyncReport

__all__ = ["KnowledgeBase", "DocInfo", "Hit", "KBStatus", "Retrieval", "Skipped", "SyncReport"]
