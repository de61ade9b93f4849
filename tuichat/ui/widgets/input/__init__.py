from .prompt import PromptInput

__all__ = ["PromptInput"]
