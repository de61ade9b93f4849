"""Training throughput: `finetune` (padding-free batches) vs TRL's SFTTrainer (padded batches, its
default), same model, same examples, same LoRA config, same batch size, one epoch each.

Counts only non-padding tokens. Reports wall-clock tokens/s and tokens per CPU-second (the second is
steadier on a shared machine). TRL is not a tuichat dependency: run its half with a Python that has
it, e.g. a separate venv (`python3 -m venv /tmp/trl-venv; /tmp/trl-venv/bin/pip install torch==2.13.0
trl -e .`):

    python benchmarks/train_speed.py --trl-python /tmp/trl-venv/bin/python
    python benchmarks/train_speed.py --impl ours --examples 32      # one side only

Results go to benchmarks/out/train_speed.json (and a Markdown table on stdout).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO.parent / "shared" / "data" / "alpaca" / "alpaca_en_demo.json"


def _examples(path: Path, count: int) -> list[dict]:
    rows = json.loads(path.read_text(encoding="utf-8"))[:count]
    return [{"instruction": r["instruction"], "input": r.get("input", ""), "output": r["output"]} for r in rows]


def _timer_callback():
    from transformers import TrainerCallback

    class Timer(TrainerCallback):
        def on_train_begin(self, args, state, control, **kw):
            self.wall, self.cpu = time.perf_counter(), time.process_time()

        def on_train_end(self, args, state, control, **kw):
            self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu

    return Timer()


def run_ours(opts) -> dict:
    """The real `finetune` recipe pieces: its formatting, masking and padding-free collator."""
    sys.path.insert(0, str(REPO))
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer, Trainer, TrainingArguments, set_seed

    from finetune.collate import EncodedDataset, PaddedCollator, PaddingFreeCollator
    from finetune.data import Example
    from finetune.formatting import choose_pad_token, encode, fit_lengths
    from tuichat.runtime.models import resolve_model

    folder = resolve_model(opts.model)
    tok = AutoTokenizer.from_pretrained(str(folder))
    choose_pad_token(tok)
    examples = [Example(i + 1, [{"role": "user", "content": f"{r['instruction']}\n\n{r['input']}".strip()},
                                {"role": "assistant", "content": r["output"]}], r)
                for i, r in enumerate(_examples(Path(opts.data), opts.examples))]
    encoded, _ = fit_lengths([encode(tok, e) for e in examples], opts.max_length, "truncate")
    set_seed(0)
    model = AutoModelForCausalLM.from_pretrained(str(folder), dtype="float32")
    model.config.use_cache = False
    model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.05, target_modules="all-linear",
                                             task_type="CAUSAL_LM"))
    timer = _timer_callback()
    collator = PaddingFreeCollator() if opts.impl == "ours" else PaddedCollator(tok.pad_token_id)
    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(output_dir=out, per_device_train_batch_size=opts.batch, num_train_epochs=1,
                                 learning_rate=2e-4, logging_steps=1000, save_strategy="no", report_to="none",
                                 remove_unused_columns=False, include_num_input_tokens_seen="non_padding",
                                 dataloader_pin_memory=False, disable_tqdm=True, seed=0)
        trainer = Trainer(model=model, args=args, train_dataset=EncodedDataset(encoded), data_collator=collator,
                          processing_class=tok, callbacks=[timer])
        trainer.train()
    return _result(opts.impl, trainer.state.num_input_tokens_seen, timer, trainer.state.global_step)


def run_trl(opts) -> dict:
    """TRL's SFTTrainer as its docs suggest: prompt/completion conversations, loss on the completion."""
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer, set_seed
    from trl import SFTConfig, SFTTrainer

    sys.path.insert(0, str(REPO))
    from tuichat.runtime.models import resolve_model

    folder = resolve_model(opts.model)
    tok = AutoTokenizer.from_pretrained(str(folder))
    tok.pad_token = "<|endoftext|>" if tok.pad_token_id == tok.eos_token_id else tok.pad_token
    rows = [{"prompt": [{"role": "user", "content": f"{r['instruction']}\n\n{r['input']}".strip()}],
             "completion": [{"role": "assistant", "content": r["output"]}]}
            for r in _examples(Path(opts.data), opts.examples)]
    set_seed(0)
    model = AutoModelForCausalLM.from_pretrained(str(folder), dtype="float32")
    timer = _timer_callback()
    with tempfile.TemporaryDirectory() as out:
        config = SFTConfig(output_dir=out, per_device_train_batch_size=opts.batch, num_train_epochs=1,
                           learning_rate=2e-4, logging_steps=1000, save_strategy="no", report_to="none",
                           max_length=opts.max_length, include_num_input_tokens_seen="non_padding",
                           dataloader_pin_memory=False, disable_tqdm=True, seed=0,
                           bf16=False)  # SFTConfig defaults to bf16; both sides train in fp32
        trainer = SFTTrainer(model=model, args=config, train_dataset=Dataset.from_list(rows), processing_class=tok,
                             peft_config=LoraConfig(r=8, lora_alpha=16, lora_dropout=0.05,
                                                    target_modules="all-linear", task_type="CAUSAL_LM"),
                             callbacks=[timer])
        trainer.train()
    return _result("trl", trainer.state.num_input_tokens_seen, timer, trainer.state.global_step)


def _result(impl: str, tokens, timer, steps: int) -> dict:
    tokens = int(tokens)
    return {"impl": impl, "tokens": tokens, "steps": steps, "wall_s": round(timer.wall, 2),
            "cpu_s": round(timer.cpu, 2), "tokens_per_s": round(tokens / timer.wall, 1),
            "tokens_per_cpu_s": round(tokens / timer.cpu, 1)}


def _child(opts, impl: str, python: str) -> dict:
    cmd = [python, __file__, "--impl", impl, "--json", "--examples", str(opts.examples), "--batch", str(opts.batch),
           "--max-length", str(opts.max_length), "--data", str(opts.data)] + (["--model", opts.model] if opts.model else [])
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    if proc.returncode != 0:
        raise SystemExit(f"{impl} run failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--impl", choices=["all", "ours", "ours-padded", "trl"], default="all")
    p.add_argument("--trl-python", default=None, help="a Python with trl installed (default: skip TRL)")
    p.add_argument("--model", default=None, help="model folder or .gguf (default: embedded SmolLM2-135M-Instruct)")
    p.add_argument("--data", default=str(DEFAULT_DATA))
    p.add_argument("--examples", type=int, default=48)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--max-length", type=int, default=256)
    p.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    opts = p.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if opts.impl != "all":
        result = run_trl(opts) if opts.impl == "trl" else run_ours(opts)
        print(json.dumps(result))
        return 0
    sys.path.insert(0, str(REPO))
    from tuichat.runtime.models import resolve_model

    # Resolve (convert) the model here: the TRL venv may not have the embedded model's package.
    opts.model = str(resolve_model(opts.model))
    results = []
    for impl, python in [("ours", sys.executable), ("ours-padded", sys.executable), ("trl", opts.trl_python)]:
        if python:
            results.append(_child(opts, impl, python))
            print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    base = results[-1]
    print(f"\n{opts.examples} examples, batch {opts.batch}, max_length {opts.max_length}, LoRA r=8 all-linear, 1 epoch\n")
    print("| impl | steps | non-pad tokens | wall s | tokens/s | tokens/CPU-s | vs last row (CPU) |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        ratio = r["tokens_per_cpu_s"] / base["tokens_per_cpu_s"]
        print(f"| {r['impl']} | {r['steps']} | {r['tokens']} | {r['wall_s']} | {r['tokens_per_s']} | "
              f"{r['tokens_per_cpu_s']} | {ratio:.2f}x |")
    out = REPO / "benchmarks" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "train_speed.json").write_text(json.dumps({"options": vars(opts), "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
