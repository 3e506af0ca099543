"""`themis train [CONFIG.yaml] [--flag ...] [--set a.b=value ...]`: train a multi-criteria reward model.

The flags are generated from `TrainConfig` and `StageConfig` (one kebab-case flag per field),
so the YAML schema, the flags and the saved `config` block cannot drift apart. A stage flag
applies to every stage; `--set stages.1.lr=5e-6` reaches one.
"""

from __future__ import annotations

import dataclasses
import inspect
import types
import typing
from pathlib import Path
from typing import Annotated, Any

import typer

from themis_rm.cli.errors import user_errors
from themis_rm.training.config import STAGE_FIELDS, TRAIN_FIELDS, StageConfig, TrainConfig

#: fields reachable only through the YAML or --set (structured values, or per-stage identity)
NOT_FLAGS = frozenset({"stages", "scratch", "defaults", "name"})
STAGE_PANEL = "Stage (applies to every stage)"


def _flag_type(hint: Any) -> Any:
    """The type typer sees: every flag is optional, so that an absent flag leaves the YAML's value."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        hint = args[0]
    if typing.get_origin(hint) is list:
        return list[str] | None
    return hint | None


def _parameters() -> list[inspect.Parameter]:
    params = [
        inspect.Parameter("config", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None, annotation=Annotated[
            Path | None, typer.Argument(help="YAML training config (fields as below; stages under 'stages:').")]),
        inspect.Parameter("assignments", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Annotated[
            list[str] | None, typer.Option("--set", help="KEY=VALUE for any config path, e.g. stages.1.lr=5e-6 "
                                           "or scratch.hidden_size=128 (value parsed as YAML).")]),
    ]
    for fields, cls, panel in ((TRAIN_FIELDS, TrainConfig, None), (STAGE_FIELDS, StageConfig, STAGE_PANEL)):
        hints = typing.get_type_hints(cls)
        for name, spec in fields.items():
            if name in NOT_FLAGS:
                continue
            flag = "--" + name.replace("_", "-")
            hint = hints[name]
            decls = [f"{flag}/--no-{name.replace('_', '-')}"] if hint is bool else [flag]
            help_text = spec.metadata.get("help", "")
            choices = spec.metadata.get("choices")
            if choices:
                help_text += f" One of: {', '.join(choices)}."
            default = spec.default if spec.default is not dataclasses.MISSING else None
            if default not in (None, "") and not isinstance(default, (list, dict)):
                help_text += f" (default: {default})"
            option = typer.Option(*decls, help=help_text, rich_help_panel=panel, show_default=False)
            params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None,
                                            annotation=Annotated[_flag_type(hint), option]))
    return params


def train_command(**kwargs: Any) -> None:
    """Train a reward model (BT + λ·LM + μ·magnitude) through one or more stages, then export it.

    The final model lands in OUTPUT_DIR/export as a standard AutoModelForSequenceClassification.
    """
    from themis_rm.data import DataError
    from themis_rm.training.data import TrainingDataError
    from themis_rm.training.export import ExportError
    from themis_rm.training.loop import train

    path = kwargs.pop("config")
    assignments = kwargs.pop("assignments") or []
    overrides = {k: v for k, v in kwargs.items() if v is not None}
    with user_errors(DataError, TrainingDataError, ExportError, ValueError, FileNotFoundError, OSError):
        config = TrainConfig.from_file(path, overrides, assignments)
        result = train(config)
    if not result.main_process:
        return
    if result.state.finished:
        where = f"; export: {result.export_dir}" if result.export_dir else ""
        typer.echo(f"finished: {result.state.global_step} steps, checkpoint {result.checkpoint}{where}")
    else:
        typer.echo(f"stopped at step {result.state.global_step}; continue with --resume "
                   f"(checkpoint {result.checkpoint})")


train_command.__signature__ = inspect.Signature(_parameters())  # type: ignore[attr-defined]


def register(app: typer.Typer) -> None:
    app.command("train")(train_command)
