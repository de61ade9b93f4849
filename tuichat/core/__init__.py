"""The chat core: the session (owner of the conversation), prompt assembly, history and settings.
No torch, transformers or textual at module level."""
