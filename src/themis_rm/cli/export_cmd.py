"""`themis export CHECKPOINT OUT`: any training checkpoint → a standard AutoModelForSequenceClassification."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from themis_rm.cli.errors import user_errors


def export_command(
    checkpoint: Annotated[Path, typer.Argument(help="A checkpoint folder, or a run folder (its latest checkpoint).")],
    out: Annotated[Path, typer.Argument(help="Folder for the exported model and tokenizer.")],
    check: Annotated[bool, typer.Option("--check/--no-check", help="Round-trip check with plain transformers.")] = True,
) -> None:
    """Export a checkpoint: backbone + reward head as `score`, tokenizer with chat template and pad token.

    The check loads the export with plain transformers and compares its rewards with the trainer's
    on padded batches of real training texts.
    """
    from themis_rm.training.export import ExportError, export_checkpoint

    with user_errors(ExportError, ValueError, FileNotFoundError, OSError):
        report = export_checkpoint(checkpoint, out, check=check)
    detail = f"; round trip on {report.checked} texts, max |Δreward| {report.max_abs_diff:.2g}" if check else ""
    typer.echo(f"exported {checkpoint} to {report.out_dir} (pad_token_id {report.pad_token_id}{detail})")


def register(app: typer.Typer) -> None:
    app.command("export")(export_command)
