"""What a run shows and records: a rich progress bar, a line every `log_every` steps, metrics.jsonl."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any


class RunLog:
    """Only the main process shows or writes anything; the others get a silent instance."""

    def __init__(self, run_dir: Path, active: bool, show_progress: bool) -> None:
        self.active = active
        self.path = Path(run_dir) / "metrics.jsonl"
        self._progress = None
        self._task = None
        self._console = None
        if not active:
            return
        from rich.console import Console

        self._console = Console(file=sys.stderr)
        if show_progress:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._progress = Progress(
                TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                TextColumn("{task.fields[status]}"), console=self._console, transient=False,
            )

    def say(self, message: str) -> None:
        if self.active:
            self._console.print(message, highlight=False)

    def start_stage(self, name: str, total: int, done: int) -> None:
        if self._progress is None:
            return
        if self._task is None:
            self._progress.start()
        else:
            self._progress.remove_task(self._task)
        self._task = self._progress.add_task(f"stage {name}", total=total, completed=done, status="")

    def step(self, status: str) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, advance=1, status=status)

    def record(self, row: dict[str, Any]) -> None:
        if not self.active:
            return
        row = {"time": round(time.time(), 3), **row}
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(row, default=float) + "\n")
        shown = " ".join(f"{k}={_fmt(v)}" for k, v in row.items() if k in SHOWN and v is not None)
        self.say(shown)

    def close(self) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.stop()


SHOWN = ("stage", "step", "loss", "bt", "lm", "magnitude", "accuracy", "margin", "lr", "grad_norm",
         "tokens_per_s", "pairs_per_s", "padding_efficiency", "mfu", "peak_mem_gib")


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
