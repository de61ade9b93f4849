from tuichat.ui.widgets.status.bar import StatusBar

__all__ = ["StatusBar"]
