from .bar import StatusBar

__all__ = ["StatusBar"]
