from .message import ChatMessage
from .pane import ChatPane

__all__ = ["ChatMessage", "ChatPane"]
