"""tuichat: a full-screen terminal chat for local language models."""
import os

# OpenMP threads that spin while they wait make both model runtimes many times slower on a shared,
# busy CPU (measured on 2 cores at load ~7: llama.cpp 1 vs 13 tok/s; torch 0.4-1.2 vs 17 tok/s; with
# two busy loops beside it, torch fp32 6.0 vs 14.2 tok/s). Passive waiting has a price on an idle
# CPU: torch fp32 decoded 15-30% slower here (benchmarks/transformers_cpu.py). The worst case is
# the one avoided. OpenMP reads this once, when torch or llama.cpp first loads it: so here, before
# either can be imported. The user's own setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
