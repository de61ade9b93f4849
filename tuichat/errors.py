"""User-facing errors: each carries one line that tells the user what to do.

Entry points catch `TuichatError` and print `tuichat: error: <message>` (no traceback, exit 2).
"""


class TuichatError(Exception):
    """An error caused by the user's input or environment, with an actionable one-line message."""


class ConfigError(TuichatError):
    pass


class ModelLoadError(TuichatError):
    pass


class AdapterMismatchError(ModelLoadError):
    pass


class PersonaError(TuichatError):
    pass


class KnowledgeError(TuichatError):
    pass


class HistoryError(TuichatError):
    pass
