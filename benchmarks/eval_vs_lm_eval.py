"""Run lm-evaluation-harness and `finetune.eval` on the same items with the same model, side by side.

lm-eval is an optional dev dependency (the `bench` extra) and drags in many packages, so run this
from a separate environment, never the project's .venv:

    python3 -m venv /tmp/lmeval-venv
    /tmp/lmeval-venv/bin/pip install torch==2.13.0          # the local CPU wheel here
    /tmp/lmeval-venv/bin/pip install lm-eval transformers==5.24.0
    /tmp/lmeval-venv/bin/pip install --no-deps -e . && /tmp/lmeval-venv/bin/pip install platformdirs gguf tqdm
    HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 /tmp/lmeval-venv/bin/python benchmarks/eval_vs_lm_eval.py --limit 50

lm-eval's own task YAMLs (arc_easy, boolq, mmlu_<subject>) are loaded from the installed package and
only their dataset is re-pointed at the local public files (converted to the Hugging Face field
layout those YAMLs expect), so the prompts compared are lm-eval's, not a re-implementation.
Per task it reports acc/acc_norm of both, the largest per-choice log-likelihood difference, items
whose prediction differs, and items/s (wall and per CPU-second: this box is shared, wall is noisy).
Writes <output>/eval_vs_lm_eval.{md,json} (default benchmarks/out/).
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
REPO = Path(__file__).resolve().parent.parent
DEFAULT_SUBJECTS = "abstract_algebra,college_biology,high_school_geography,marketing,philosophy"


def _lm_eval_yaml(relative: str) -> dict:
    import lm_eval
    import yaml

    return yaml.safe_load((Path(lm_eval.__file__).parent / "tasks" / relative).read_text())


def _write_jsonl(path: Path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def _local(config: dict, name: str, splits: dict[str, str]) -> dict:
    config = {k: v for k, v in config.items() if k not in ("include", "tag", "dataset_name", "task_alias")}
    config.update(task=name, dataset_path="json", dataset_kwargs={"data_files": splits})
    for split in ("training_split", "validation_split", "test_split", "fewshot_split"):
        config.pop(split, None)
    config["test_split"] = "test"
    if "dev" in splits:
        config["fewshot_split"] = "dev"
    return config


def lm_eval_configs(data: Path, tmp: Path, subjects: list[str]) -> dict[str, dict]:
    """lm-eval task configs with their datasets pointed at local copies in the HF field layout."""
    arc = []
    for line in (data / "arc" / "ARC-Easy-Test.jsonl").open(encoding="utf-8"):
        d = json.loads(line)
        arc.append({"id": d["id"], "question": d["question"]["stem"], "answerKey": d["answerKey"],
                    "choices": {"text": [c["text"] for c in d["question"]["choices"]],
                                "label": [c["label"] for c in d["question"]["choices"]]}})
    configs = {"arc_easy": _local(_lm_eval_yaml("arc/arc_easy.yaml"), "arc_easy",
                                  {"test": _write_jsonl(tmp / "arc_easy.jsonl", arc)})}
    boolq = [{"question": d["question"], "passage": d["passage"], "idx": d["idx"],
              "label": 1 if str(d["label"]).lower() == "true" else 0}
             for d in map(json.loads, (data / "boolq" / "val.jsonl").open(encoding="utf-8"))]
    configs["boolq"] = _local(_lm_eval_yaml("super_glue/boolq/default.yaml"), "boolq",
                              {"test": _write_jsonl(tmp / "boolq.jsonl", boolq)})
    template = _lm_eval_yaml("mmlu/default/_default_template_yaml")
    for subject in subjects:
        files = {}
        for split in ("test", "dev"):
            with (data / "mmlu" / split / f"{subject}_{split}.csv").open(encoding="utf-8", newline="") as fh:
                rows = [{"question": r[0], "subject": subject, "choices": r[1:5], "answer": "ABCD".index(r[5].strip())}
                        for r in csv.reader(fh)]
            files[split] = _write_jsonl(tmp / f"mmlu_{subject}_{split}.jsonl", rows)
        per_subject = {**template, **_lm_eval_yaml(f"mmlu/default/mmlu_{subject}.yaml")}
        configs[f"mmlu_{subject}"] = _local(per_subject, f"mmlu_{subject}", files)
    return configs


def run_lm_eval(lm, config: dict, limit: int, num_fewshot: int):
    from lm_eval import simple_evaluate

    wall, cpu = time.perf_counter(), time.process_time()
    out = simple_evaluate(model=lm, tasks=[config], num_fewshot=num_fewshot, limit=limit, log_samples=True,
                          bootstrap_iters=0, random_seed=0)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    name = config["task"]
    metrics = {k.split(",")[0]: v for k, v in out["results"][name].items() if k.endswith(",none") and "stderr" not in k}
    samples = sorted(out["samples"][name], key=lambda s: s["doc_id"])
    lls = [[float(r[0]) for r in s["filtered_resps"]] for s in samples]
    return metrics, lls, wall, cpu


def run_ours(model, tokenizer, task: str, subject: str | None, data: Path, limit: int, num_fewshot: int, batch_size: int):
    from finetune.eval import scoring
    from finetune.eval.tasks import load_task

    items = load_task(task, data, num_fewshot, limit)
    if subject:
        items = [i for i in items if i.subject == subject]
    wall, cpu = time.perf_counter(), time.process_time()
    lls = scoring.loglikelihoods(model, tokenizer, items, batch_size)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    per_item = [scoring.item_metrics(i, ll) for i, ll in zip(items, lls)]
    metrics = {m: sum(r[m] for r in per_item) / len(per_item) for m in ("acc", "acc_norm")}
    return metrics, lls, wall, cpu, items


def _argmax(v):
    return max(range(len(v)), key=lambda i: (v[i], -i))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--model", default=None, help="model folder or .gguf (default: embedded SmolLM2-135M-Instruct)")
    parser.add_argument("--dtype", default="float32",
                        help="both run this dtype; float32 by default because lm-eval takes its log-softmax in the "
                             "model's dtype, so a bf16 model would compare bf16-rounded sums with our fp32 ones")
    parser.add_argument("--limit", type=int, default=50)
    parser.add_argument("--num-fewshot", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=8, help="the same for both")
    parser.add_argument("--subjects", default=DEFAULT_SUBJECTS, help="MMLU subjects")
    parser.add_argument("--tasks", default="arc_easy,boolq,mmlu", help="which of arc_easy, boolq, mmlu to compare")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (on a shared box, 1 keeps idle OpenMP spinning out of the CPU times)")
    parser.add_argument("--output", type=Path, default=REPO / "benchmarks" / "out")
    args = parser.parse_args()

    import torch
    from lm_eval.models.huggingface import HFLM

    from tuichat.runtime.models import load

    if args.threads:
        torch.set_num_threads(args.threads)
    loaded = load(args.model, dtype=args.dtype, progress=lambda t: print(t, file=sys.stderr))
    lm = HFLM(pretrained=loaded.model, tokenizer=loaded.tokenizer, batch_size=args.batch_size)
    subjects = [s.strip() for s in args.subjects.split(",") if s.strip()]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        configs = lm_eval_configs(args.data_dir, Path(tmp), subjects)
        wanted = {t.strip() for t in args.tasks.split(",")}
        for name, config in configs.items():
            task, subject = ("mmlu", name[5:]) if name.startswith("mmlu_") else (name, None)
            if task not in wanted:
                continue
            theirs, their_lls, their_wall, their_cpu = run_lm_eval(lm, config, args.limit, args.num_fewshot)
            ours, our_lls, our_wall, our_cpu, items = run_ours(
                loaded.model, loaded.tokenizer, task, subject, args.data_dir, args.limit, args.num_fewshot, args.batch_size)
            n = len(items)
            diff = max(abs(a - b) for x, y in zip(our_lls, their_lls) for a, b in zip(x, y))
            flips = sum(_argmax(x) != _argmax(y) for x, y in zip(our_lls, their_lls))
            rows.append({"task": name, "n": n, "ours": ours, "lm_eval": theirs, "max_ll_diff": diff,
                         "pred_differs": flips, "ours_items_s": n / our_wall, "lm_eval_items_s": n / their_wall,
                         "ours_items_cpu_s": n / our_cpu, "lm_eval_items_cpu_s": n / their_cpu})
            print(json.dumps(rows[-1]), file=sys.stderr)
    args.output.mkdir(parents=True, exist_ok=True)
    total_n = sum(r["n"] for r in rows)
    ours_s = sum(r["n"] / r["ours_items_s"] for r in rows)
    theirs_s = sum(r["n"] / r["lm_eval_items_s"] for r in rows)
    lines = [f"Model {loaded.name} ({args.dtype}), torch {torch.__version__}, {torch.get_num_threads()} threads, "
             f"--limit {args.limit}, {args.num_fewshot}-shot, batch size {args.batch_size} for both.", "",
             "| task | n | acc ours | acc lm-eval | acc_norm ours | acc_norm lm-eval | max Δ loglik | preds differ "
             "| items/s ours | items/s lm-eval | speed-up (wall) | speed-up (CPU time) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        def pct(d, m):
            return f"{100 * d[m]:.2f}" if m in d else "–"
        lines.append(
            f"| {r['task']} | {r['n']} | {pct(r['ours'], 'acc')} | {pct(r['lm_eval'], 'acc')} | "
            f"{pct(r['ours'], 'acc_norm') if 'acc_norm' in r['lm_eval'] else '–'} | {pct(r['lm_eval'], 'acc_norm')} | "
            f"{r['max_ll_diff']:.1e} | {r['pred_differs']} | {r['ours_items_s']:.2f} | {r['lm_eval_items_s']:.2f} | "
            f"{r['ours_items_s'] / r['lm_eval_items_s']:.2f}× | {r['ours_items_cpu_s'] / r['lm_eval_items_cpu_s']:.2f}× |")
    lines.append(f"| **all** | {total_n} | | | | | | {sum(r['pred_differs'] for r in rows)} | {total_n / ours_s:.2f} | "
                 f"{total_n / theirs_s:.2f} | {theirs_s / ours_s:.2f}× | |")
    text = "\n".join(lines) + "\n"
    (args.output / "eval_vs_lm_eval.md").write_text(text, encoding="utf-8")
    (args.output / "eval_vs_lm_eval.json").write_text(json.dumps(rows, indent=2), encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
