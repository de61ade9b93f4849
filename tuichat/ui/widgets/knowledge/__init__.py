from tuichat.ui.widgets.knowledge.panel import KnowledgePanel

__all__ = ["KnowledgePanel"]
