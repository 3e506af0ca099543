"""Entry point of the `themis` command.

Each verb lives in its own module under `themis_rm.cli` and exposes `register(app)`.
Modules import only light packages at the top; heavy ones (torch, pygit2) load inside
the command, so `themis --help` stays fast.
"""

from __future__ import annotations

import importlib

import typer

from themis_rm.cli.errors import UserError, fail

COMMAND_MODULES = [
    "themis_rm.cli.eval_cmd",
    "themis_rm.cli.report_cmd",
    "themis_rm.cli.compare_cmd",
    "themis_rm.cli.data_cmd",
    "themis_rm.cli.judge_cmd",
    "themis_rm.cli.mine_cmd",
    "themis_rm.cli.train_cmd",
    "themis_rm.cli.export_cmd",
    "themis_rm.cli.lite_cmd",
]

app = typer.Typer(
    name="themis",
    help="Benchmark, mine data for and train multi-criteria code reward models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

for _name in COMMAND_MODULES:
    importlib.import_module(_name).register(app)


def main() -> None:
    """Run the app; a `UserError` becomes one line on stderr and exit status 2, never a traceback."""
    try:
        app(standalone_mode=True)
    except UserError as err:
        fail(str(err))
