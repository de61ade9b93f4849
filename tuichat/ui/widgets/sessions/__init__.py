from tuichat.ui.widgets.sessions.session_list import SessionList

__all__ = ["SessionList"]
