"""One training run: data → model (full, LoRA or QLoRA) → Trainer → adapter or model folder.

`run(args)` is the recipe, top to bottom: load and format the data (length report, refuse
untrainable rows), guard the output dir (auto-resume an unfinished run of the same signature),
load the base, wrap it for the method, train, then write the adapter/model with its tokenizer,
template and metadata, and the loss files. Under torchrun/accelerate every rank trains and only
the main process writes.
"""
from __future__ import annotations

import os
import random
import sys
from pathlib import Path
from typing import Any

from tuichat.runtime import adapter_files, models, templates
from tuichat.errors import TuichatError

from .args import FinetuneArgs
from .collate import EncodedDataset, PaddedCollator, PaddingFreeCollator
from .data import dataset_files, load_datasets
from .formatting import choose_pad_token, encode, fit_lengths
from .outputs import mark_finished, prepare_output_dir, write_loss_files, write_metadata
from .serving import serve_commands


def is_main_process() -> bool:
    return os.environ.get("RANK", "0") == "0"


def say(text: str) -> None:
    if is_main_process():
        print(text, file=sys.stderr, flush=True)


def split_examples(examples: list, val_size: float, seed: int) -> tuple[list, list]:
    """Shuffle with the run's seed and hold out `val_size` examples (a count, or a fraction if < 1)."""
    if not val_size:
        return examples, []
    count = int(round(val_size * len(examples))) if val_size < 1 else int(val_size)
    if not 0 < count < len(examples):
        raise TuichatError(f"--val_size {val_size} leaves no training or no held-out example of {len(examples)}")
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    held = set(order[:count])
    return [e for i, e in enumerate(examples) if i not in held], [e for i, e in enumerate(examples) if i in held]


def _signature(args: FinetuneArgs, base: Path) -> dict[str, Any]:
    """What makes two runs the same run (for auto-resume) — not learning rate or step counts."""
    d, m = args.data, args.method
    return {
        "model": str(base), "dataset": ",".join(str(p.resolve()) for p in dataset_files(d.dataset_path)) if d.dataset_path else "sample",
        "max_length": d.max_length, "train_on_inputs": d.train_on_inputs, "val_size": d.val_size,
        "method": "qlora" if m.use_qlora else "lora" if m.use_lora else "full",
        "lora": [m.lora_r, m.lora_alpha, list(m.lora_target_modules)] if m.use_lora else None,
    }


def _dtype(training: Any):
    import torch

    return torch.bfloat16 if training.bf16 else torch.float16 if training.fp16 else torch.float32


def load_model(args: FinetuneArgs, base: Path):
    """The base model wrapped for the chosen method; returns (model, base fingerprint)."""
    import torch
    from transformers import AutoModelForCausalLM, set_seed

    method, training = args.method, args.training
    set_seed(training.seed)  # LoRA's initial weights come from the global RNG: same seed, same run
    kwargs: dict[str, Any] = {"dtype": _dtype(training)}
    if method.use_qlora:
        kwargs["quantization_config"] = _nf4_config(kwargs["dtype"])
        device = "cuda" if torch.cuda.is_available() and not training.use_cpu else "cpu"
        kwargs["device_map"] = {"": int(os.environ.get("LOCAL_RANK", 0)) if device == "cuda" else "cpu"}
    try:
        model = AutoModelForCausalLM.from_pretrained(str(base), **kwargs)
    except (OSError, ValueError, RuntimeError) as exc:
        raise TuichatError(f"cannot load {base}: {str(exc).splitlines()[0]}") from exc
    model.config.use_cache = False  # no KV cache in training; also required for padding-free masks
    fingerprint = adapter_files.base_fingerprint(model)
    # TrainingArguments 5.24 renamed gradient_checkpointing* to activation_checkpointing* (old flags still parse).
    checkpointing = bool(training.activation_checkpointing)
    if checkpointing and training.activation_checkpointing_kwargs is None:
        # Non-reentrant checkpointing works with frozen bases (LoRA) without extra hooks.
        training.activation_checkpointing_kwargs = {"use_reentrant": False}
    if not method.use_lora:
        return model, fingerprint
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    if method.use_qlora:
        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=checkpointing,
            gradient_checkpointing_kwargs=training.activation_checkpointing_kwargs,
        )
    targets = method.lora_target_modules
    config = LoraConfig(
        r=method.lora_r, lora_alpha=method.lora_alpha, lora_dropout=method.lora_dropout, task_type="CAUSAL_LM",
        target_modules="all-linear" if list(targets) == ["all-linear"] else list(targets),
    )
    try:
        model = get_peft_model(model, config)
    except ValueError as exc:  # e.g. a target module name that the model does not have
        raise TuichatError(f"LoRA setup failed: {str(exc).splitlines()[0]} (check --lora_target_modules)") from exc
    if checkpointing:
        model.enable_input_require_grads()
    trainable, total = model.get_nb_trainable_parameters()
    say(f"LoRA r={method.lora_r} alpha={method.lora_alpha}: {trainable:,} trainable of {total:,} parameters "
        f"({100 * trainable / total:.2f}%)")
    return model, fingerprint


def _nf4_config(compute_dtype: Any):
    try:
        import bitsandbytes  # noqa: F401
        from transformers import BitsAndBytesConfig
    except Exception as exc:  # ImportError, or a native-library error inside bitsandbytes
        raise TuichatError(f"--use_qlora needs bitsandbytes, which cannot run here ({exc}); use --use_lora instead") from exc
    return BitsAndBytesConfig(
        load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=compute_dtype,
        bnb_4bit_use_double_quant=True,
    )


def prepare_data(args: FinetuneArgs, tokenizer: Any) -> tuple[list, list, dict[str, Any]]:
    d = args.data
    source = d.dataset_path or "finetune/data/sample_instructions.jsonl"
    examples = load_datasets(d.dataset_path)
    train, held = split_examples(examples, d.val_size, args.training.seed)
    encoded = [encode(tokenizer, e, d.train_on_inputs) for e in train]
    encoded, report = fit_lengths(encoded, d.max_length, d.length_strategy, source)
    for line in report.lines():
        say(line)
    # Held-out loss is always measured on responses only, whatever --train_on_inputs says.
    held_encoded = fit_lengths([encode(tokenizer, e) for e in held], d.max_length, "truncate", source)[0] if held else []
    info = {"path": source, "examples": len(examples), "train": len(encoded), "held_out": len(held_encoded),
            "template": templates.template_name(tokenizer), "length_report": vars(report)}
    return encoded, held_encoded, info


def _prepare_training_args(args: FinetuneArgs) -> None:
    t = args.training
    t.remove_unused_columns = False  # our collator's position_ids are not dataset columns
    t.label_names = ["labels"]  # PEFT wrappers hide forward()'s signature from the Trainer
    if t.include_num_input_tokens_seen == "no":
        t.include_num_input_tokens_seen = "non_padding"
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and t.ddp_backend is None:
        import torch

        if not torch.cuda.is_available():
            t.ddp_backend = "gloo"


def run(args: FinetuneArgs) -> dict[str, Any]:
    """Train as `args` say; return the result summary (also stored in the metadata file)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    for note in args.notes:
        say(note)
    from transformers import AutoTokenizer, Trainer

    base = models.resolve_model(args.model.model_name_or_path, progress=say)
    tokenizer = AutoTokenizer.from_pretrained(str(base))
    choose_pad_token(tokenizer)
    train_set, held_set, data_info = prepare_data(args, tokenizer)
    _prepare_training_args(args)
    t = args.training
    if args.method.use_qlora:
        _nf4_config(_dtype(t))  # fail before the output dir is touched where bitsandbytes cannot run
    out = Path(t.output_dir)
    with t.main_process_first(local=False, desc="output dir"):
        if is_main_process():
            resume = prepare_output_dir(out, _signature(args, base), args.method.overwrite_output_dir, t.resume_from_checkpoint)
        else:  # replicas only read what the main process decided
            from .outputs import last_checkpoint

            explicit = t.resume_from_checkpoint
            resume = Path(explicit) if explicit and explicit.lower() not in {"true", "1", "yes", "auto"} else last_checkpoint(out)
    if resume:
        say(f"Resuming from {resume}")
    model, fingerprint = load_model(args, base)
    collator = PaddingFreeCollator() if args.data.padding_free else PaddedCollator(tokenizer.pad_token_id)
    trainer = Trainer(
        model=model, args=t, train_dataset=EncodedDataset(train_set),
        eval_dataset=EncodedDataset(held_set) if held_set else None,
        data_collator=collator, processing_class=tokenizer,
    )
    before = trainer.evaluate()["eval_loss"] if held_set and not resume else None
    if before is not None:
        say(f"Held-out response loss before training: {before:.4f}")
    output = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    after = trainer.evaluate()["eval_loss"] if held_set else None
    if after is not None:
        say(f"Held-out response loss after training: {after:.4f}")
    trainer.save_model(str(out))  # adapter only for LoRA/QLoRA; the full model otherwise
    state = trainer.state
    logged = [e["loss"] for e in state.log_history if "loss" in e]
    result = {
        "global_step": state.global_step, "train_loss": output.training_loss,
        "final_logged_loss": logged[-1] if logged else None, "eval_loss_before": before, "eval_loss_after": after,
        "tokens_seen": int(state.num_input_tokens_seen), "train_runtime_s": output.metrics.get("train_runtime"),
        "world_size": t.world_size,
    }
    if t.world_size > 1:  # every rank reports, so a launch where one rank idles is visible
        print(f"rank {t.process_index}/{t.world_size}: trained {state.global_step} steps", file=sys.stderr, flush=True)
    if trainer.is_world_process_zero():
        tokenizer.save_pretrained(str(out))
        loss_dir = Path(args.method.logging_dir) if args.method.logging_dir else out
        # train() starts a fresh log, so the before-training evaluation is added back as step 0.
        history = ([{"step": 0, "epoch": 0.0, "eval_loss": before}] if before is not None else []) + state.log_history
        write_loss_files(history, loss_dir)
        write_metadata(out, {
            "base_model": models.display_name(base), "base_model_path": str(base),
            "base_model_spec": args.model.model_name_or_path, "base_fingerprint": fingerprint,
            "template": templates.template_name(tokenizer), "method": _signature(args, base)["method"],
            "data": data_info, "result": result, "args": args.as_dict(),
        })
        mark_finished(out, result)
        say(f"Done: {state.global_step} steps, final loss {result['final_logged_loss']}; wrote {out}")
        serve, chat = serve_commands(out, str(base), models.display_name(base),
                                     args.method.lora_r if args.method.use_lora else None)
        say(f"Serve it with vLLM:  {serve}\nthen chat with it:   {chat}")
    return result
