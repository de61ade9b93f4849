"""Model runtimes behind one seam: model resolution and loading, chat templates, and the backends
that turn a prompt into streamed text."""
