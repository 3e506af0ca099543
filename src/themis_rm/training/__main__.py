"""`python -m themis_rm.training CONFIG [flags]`: the `themis train` command as a module, for launchers.

    accelerate launch --config_file examples/accelerate/ddp.yaml -m themis_rm.training CONFIG
    torchrun --nproc_per_node 8 -m themis_rm.training CONFIG
"""

from __future__ import annotations

import typer

from themis_rm.cli.train_cmd import train_command

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
app.command()(train_command)

if __name__ == "__main__":
    app()
