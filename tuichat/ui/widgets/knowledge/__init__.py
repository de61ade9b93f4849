from .panel import KnowledgePanel

__all__ = ["KnowledgePanel"]
