from tuichat.ui.widgets.chat.message import ChatMessage
from tuichat.ui.widgets.chat.pane import ChatPane

__all__ = ["ChatMessage", "ChatPane"]
