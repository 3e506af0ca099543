"""`themis mine`: turn git repositories into a split, deduplicated, multi-criteria pair set.

The flags are generated from `MineConfig`, one per field (`max_diff_lines` is
`--max-diff-lines`), so the command, the Python API and the `--config` YAML can never drift
apart. A flag left out keeps the value from `--config`, or else the dataclass default.
"""

from __future__ import annotations

import inspect
import typing
from dataclasses import MISSING
from typing import Annotated, Any, Optional

import typer

from themis_rm.cli.errors import UserError, user_errors
from themis_rm.mining.config import FIELDS, MineConfig

HELP = """Mine preference pairs from git history (the file after a commit is preferred to the file before).

Examples:

  themis mine ~/src/requests ~/src/express --out mined

  themis mine ~/repos --out mined --workers 8 --time-split train=..2019-03 --time-split benchmark=2019-06..2021-01

  themis mine ~/repos --out mined --licenses MIT,Apache-2.0,BSD-3-Clause --decontam bench.jsonl
"""

_SCALAR = {"int": int, "float": float, "str": str, "bool": bool}


def _flag_type(annotation: str) -> Any:
    """The Python type typer should parse a field's flag as (always optional: None = not given)."""
    base = annotation.replace(" | None", "").replace("Optional[", "").rstrip("]").strip()
    if base.startswith("list["):
        return Optional[list[str]]  # noqa: UP045 (typer reads these at run time)
    return Optional[_SCALAR[base]]  # noqa: UP045


def _default_text(field: Any) -> str:
    value = field.default if field.default is not MISSING else field.default_factory()
    if isinstance(value, list):
        return ",".join(map(str, value)) or "none"
    return "none" if value is None else str(value)


def _parameters() -> list[inspect.Parameter]:
    annotations = {name: str(annotation) for name, annotation in MineConfig.__annotations__.items()}
    params = []
    for name, field in FIELDS.items():
        meta = field.metadata
        if meta.get("argument"):
            info: Any = typer.Argument(help=meta["help"], show_default=False)
            kind = Optional[list[str]]  # noqa: UP045
        else:
            flag = "--" + name.replace("_", "-")
            kind = _flag_type(annotations[name])
            decls = [f"{flag}/--no-{name.replace('_', '-')}"] if kind == Optional[bool] else [flag]  # noqa: UP045
            help_text = meta["help"]
            if "choices" in meta:
                help_text += f" One of: {', '.join(meta['choices'])}."
            if kind != Optional[bool]:  # noqa: UP045 (a --x/--no-x flag shows its default itself)
                help_text += f" (default: {_default_text(field)})"
            metavar = {int: "INT", float: "FLOAT"}.get(_flag_type(annotations[name]).__args__[0], "TEXT")
            extra = {} if kind == Optional[bool] else {"metavar": metavar}  # noqa: UP045
            info = typer.Option(*decls, help=help_text, show_default=False, **extra)
        params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None,
                                        annotation=Annotated[kind, info]))
    config_info = typer.Option("--config", help="YAML or JSON file of MineConfig fields; flags override it.")
    params.append(inspect.Parameter("config_file", inspect.Parameter.KEYWORD_ONLY, default=None,
                                    annotation=Annotated[Optional[str], config_info]))  # noqa: UP045
    return params


def config_from_flags(values: dict[str, Any]) -> MineConfig:
    """A `MineConfig` from parsed flags: None means "not given"."""
    config_file = values.pop("config_file", None)
    given = {name: value for name, value in values.items() if value is not None and value != []}
    if config_file:
        return MineConfig.from_file(config_file, **given)
    return MineConfig(**given)


def mine_command(**values: Any) -> None:
    from themis_rm.mining.pipeline import mine

    with user_errors(ValueError, OSError):
        config = config_from_flags(values)
        if not config.repos:
            raise UserError("give at least one repository (or a directory of repositories)")
        from rich.console import Console

        console = Console()
        result = mine(config, console=console)
        outputs = result.report["outputs"]
        console.print(f"wrote {len(result.rows)} rows to {outputs['pairs']} "
                      f"(per split under {result.out / 'splits'}) and {result.out / 'mining_report.json'}")


mine_command.__signature__ = inspect.Signature(_parameters())  # type: ignore[attr-defined]
mine_command.__doc__ = HELP
typing.get_type_hints(mine_command)  # fail at import, not at first use, if a field type is unsupported


def register(app: typer.Typer) -> None:
    app.command("mine", help=HELP)(mine_command)
