from tuichat.ui.widgets.input.prompt import PromptInput

__all__ = ["PromptInput"]
