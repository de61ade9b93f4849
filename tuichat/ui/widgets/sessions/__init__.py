from .session_list import SessionList

__all__ = ["SessionList"]
