"""Adapters and local models beyond the loaded one: discovery with provenance (`catalog`), the
benchmark deltas shown beside them (`evals`), and base-vs-adapter comparisons (`compare`)."""
