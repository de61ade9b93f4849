"""What a run leaves on disk: the output-dir guard (never overwrite another run by accident), loss
files (CSV, XLSX, PNG) and the metadata tuichat reads to refuse an adapter made for another base."""
from __future__ import annotations

import csv
import json
import shutil
import time
from pathlib import Path
from typing import Any

from tuichat.errors import TuichatError
from tuichat.runtime.adapter_files import ADAPTER_META

RUN_MARKER = "finetune_run.json"
LOSS_FIELDS = ("step", "epoch", "loss", "eval_loss", "learning_rate", "grad_norm")


class OutputDirError(TuichatError):
    pass


def last_checkpoint(folder: Path) -> Path | None:
    """The newest complete checkpoint. The Trainer writes trainer_state.json last, so a checkpoint
    without it was cut off mid-write (killed run) and must not be resumed from."""
    found = [
        p for p in folder.glob("checkpoint-*")
        if p.is_dir() and p.name.split("-")[-1].isdigit() and (p / "trainer_state.json").is_file()
    ]
    return max(found, key=lambda p: int(p.name.split("-")[-1])) if found else None


def prepare_output_dir(folder: Path, signature: dict[str, Any], overwrite: bool, resume: str | None) -> Path | None:
    """Check `folder` is free for this run (or is this run, unfinished) and return a checkpoint to
    resume from, if any. Raises OutputDirError instead of touching anything that is not ours."""
    marker = folder / RUN_MARKER
    previous = json.loads(marker.read_text(encoding="utf-8")) if marker.is_file() else None
    busy = folder.is_dir() and any(folder.iterdir())
    if busy and previous is None:
        raise OutputDirError(
            f"--output_dir {folder} is not empty and holds no finetune run; choose an empty or new folder"
        )
    if busy and overwrite:
        shutil.rmtree(folder)  # only ever a folder that carries our marker (checked above)
        busy, previous = False, None
    explicit = None
    if resume and resume.lower() not in {"true", "1", "yes", "auto"}:
        explicit = Path(resume).expanduser()
        if not explicit.is_dir():
            raise OutputDirError(f"--resume_from_checkpoint {explicit} does not exist")
    if busy:
        if previous.get("signature") != signature:
            raise OutputDirError(
                f"--output_dir {folder} holds another run (model {previous['signature'].get('model')}, data "
                f"{previous['signature'].get('dataset')}); pick a new folder or pass --overwrite_output_dir to replace it"
            )
        if previous.get("status") == "finished" and explicit is None:
            raise OutputDirError(
                f"--output_dir {folder} already holds this finished run; pass --overwrite_output_dir to train it again"
            )
    folder.mkdir(parents=True, exist_ok=True)
    started = previous.get("started") if busy else time.strftime("%Y-%m-%d %H:%M:%S")
    marker.write_text(json.dumps({"signature": signature, "status": "running", "started": started}, indent=2))
    # Auto-resume: an unfinished run of the same signature continues from its last checkpoint.
    return explicit or (last_checkpoint(folder) if busy else None)


def mark_finished(folder: Path, result: dict[str, Any]) -> None:
    marker = folder / RUN_MARKER
    data = json.loads(marker.read_text(encoding="utf-8"))
    data.update(status="finished", finished=time.strftime("%Y-%m-%d %H:%M:%S"), result=result)
    marker.write_text(json.dumps(data, indent=2, ensure_ascii=False))


def loss_rows(log_history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {k: entry.get(k) for k in LOSS_FIELDS}
        for entry in log_history
        if "loss" in entry or "eval_loss" in entry
    ]


def write_loss_files(log_history: list[dict[str, Any]], folder: Path) -> list[Path]:
    """loss.csv, loss.xlsx and loss.png from the Trainer's log history."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = loss_rows(log_history)
    csv_path = folder / "loss.csv"
    with csv_path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=LOSS_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    import pandas as pd

    xlsx_path = folder / "loss.xlsx"
    pd.DataFrame(rows, columns=list(LOSS_FIELDS)).to_excel(xlsx_path, index=False, sheet_name="loss")
    png_path = folder / "loss.png"
    _plot(rows, png_path)
    return [csv_path, xlsx_path, png_path]


def _plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display on servers
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    train = [(r["step"], r["loss"]) for r in rows if r["loss"] is not None]
    held_out = [(r["step"], r["eval_loss"]) for r in rows if r["eval_loss"] is not None]
    if train:
        ax.plot(*zip(*train), label="training loss")
    if held_out:
        ax.plot(*zip(*held_out), "o-", label="held-out loss")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss (response tokens)")
    ax.grid(alpha=0.3)
    if train or held_out:
        ax.legend()
    else:  # fewer steps than --logging_steps
        ax.text(0.5, 0.5, "no loss logged: lower --logging_steps", ha="center", transform=ax.transAxes)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_metadata(folder: Path, meta: dict[str, Any]) -> Path:
    path = folder / ADAPTER_META
    path.write_text(json.dumps(meta, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    return path
