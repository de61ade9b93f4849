"""Personas: the loader (Markdown + YAML front matter), SillyTavern character cards, persona eval."""
