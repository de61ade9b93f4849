"""`python -m llama_cpp.server` with llama.cpp's extra weight buffers (AMX / repacked weights) off.

Some VMs (this project's among them) advertise AMX in /proc/cpuinfo while the hypervisor does not
enable it: llama.cpp then dies with SIGILL ("Illegal instruction") at the first prompt of more than
one token. It also makes OpenMP threads wait passively. `Llama` takes no `use_extra_bufts` argument, so this wrapper hands it model defaults
with the flag off, then runs the normal server. Same arguments as `python -m llama_cpp.server`:

    python scripts/llama_server.py --model model.gguf --host 127.0.0.1 --port 8080
    python scripts/llama_server.py --config_file server.json   # several models / model_alias
"""
from __future__ import annotations

import os
import sys

# Spinning OpenMP threads make llama.cpp ~10x slower on a busy shared CPU (see
# tuichat/runtime/llamacpp_backend.py); read when llama.cpp loads, so set before the import.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def main() -> None:
    import llama_cpp.llama_cpp as native

    original = native.llama_model_default_params

    def defaults():
        params = original()
        params.use_extra_bufts = False
        return params

    native.llama_model_default_params = defaults
    from llama_cpp.server.__main__ import main as serve

    sys.argv[0] = "llama_cpp.server"
    serve()


if __name__ == "__main__":
    main()
