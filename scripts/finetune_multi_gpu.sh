#!/usr/bin/env bash
# Exercise the shipped accelerate configs on a GPU machine: DDP, FSDP full shard, DeepSpeed ZeRO-2
# and ZeRO-3, each a short LoRA run (and a full fine-tune under FSDP / ZeRO-3), then check each run
# wrote exactly one adapter/model and one loss.csv, and print a summary table.
#
#   scripts/finetune_multi_gpu.sh [MODEL] [NUM_GPUS]     (defaults: the embedded SmolLM2, all GPUs)
#
# Needs CUDA GPUs; DeepSpeed runs are skipped (and said so) when `deepspeed` is not installed.
# Outputs go to runs/multi-gpu-check/ (git-ignored). Times are printed, never judged.
set -u
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
MODEL=${1:-}
GPUS=${2:-$($PY -c 'import torch; print(torch.cuda.device_count())')}
OUT=runs/multi-gpu-check
export PYTHONPATH=$PWD
if [ "${GPUS:-0}" -lt 1 ]; then echo "no CUDA GPU here: run this on a GPU machine" >&2; exit 2; fi
mkdir -p "$OUT"
model_args=()
[ -n "$MODEL" ] && model_args=(--model_name_or_path "$MODEL")
common=(--num_train_epochs 1 --max_steps 20 --per_device_train_batch_size 4 --max_length 512 --bf16 true
        --save_strategy no --logging_steps 5 --report_to none --disable_tqdm true)
has_deepspeed=$($PY -c 'import deepspeed' 2>/dev/null && echo yes || echo no)
printf '%-22s %-6s %-8s %s\n' run status seconds outputs > "$OUT/summary.txt"
run() {  # run NAME CONFIG METHOD_FLAGS...
  local name=$1 config=$2; shift 2
  if [[ $config == *deepspeed* && $has_deepspeed == no ]]; then
    printf '%-22s %-6s %-8s %s\n' "$name" skip - "deepspeed not installed" >> "$OUT/summary.txt"; return
  fi
  rm -rf "$OUT/$name"
  local start=$SECONDS
  $PY -m accelerate.commands.launch --config_file "finetune/configs/$config.yaml" --num_processes "$GPUS" \
      -m finetune "${model_args[@]}" --output_dir "$OUT/$name" "${common[@]}" "$@" > "$OUT/$name.log" 2>&1
  local rc=$? files
  files=$(ls "$OUT/$name" 2>/dev/null | grep -cE '^(adapter_model.safetensors|model.safetensors|model-00001-of-.*|loss.csv)$')
  printf '%-22s %-6s %-8s %s\n' "$name" "$([ $rc = 0 ] && echo ok || echo FAIL:$rc)" $((SECONDS - start)) \
      "$(ls "$OUT/$name" 2>/dev/null | grep -E 'safetensors|loss.csv' | tr '\n' ' ')" >> "$OUT/summary.txt"
}
run ddp-lora          accelerate_ddp             --use_lora
run fsdp-lora         accelerate_fsdp            --use_lora
run fsdp-full         accelerate_fsdp
run zero2-lora        accelerate_deepspeed_zero2 --use_lora
run zero3-lora        accelerate_deepspeed_zero3 --use_lora
run zero3-full        accelerate_deepspeed_zero3
cat "$OUT/summary.txt"
grep -h "vllm serve" "$OUT"/*.log | head -3
