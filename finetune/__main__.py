"""`python -m finetune` (console script `finetune`): instruction tuning, and `merge`.

Examples (the seed's Trainer-style command runs unchanged):
    python -m finetune --dataset_path finetune/data/sample_instructions.jsonl --output_dir runs/sample --use_lora
    python -m finetune --model_name_or_path MODEL --dataset_path train.csv --output_dir runs/full \\
        --num_train_epochs 3 --per_device_train_batch_size 2 --gradient_accumulation_steps 8 \\
        --learning_rate 5e-5 --gradient_clip_val 1.0 --data_loader_num_workers 2 --save_steps 500
    python -m finetune run.yaml                       # every argument from a YAML/JSON file
    torchrun --nproc_per_node 2 -m finetune ...       # DDP (gloo on CPU, nccl on GPUs)
    python -m finetune merge --adapter runs/sample --output_dir runs/sample-merged
"""
from __future__ import annotations

import sys

from tuichat.errors import TuichatError


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] == "merge":
            from .merge import main as merge_main

            return merge_main(argv[1:])
        from .args import parse_args
        from .train import run

        run(parse_args(argv))
        return 0
    except TuichatError as exc:
        print(f"finetune: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("finetune: interrupted; rerun the same command to resume from the last checkpoint", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
