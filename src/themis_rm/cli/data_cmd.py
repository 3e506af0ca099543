"""`themis data`: look at a pair source before scoring it."""

from __future__ import annotations

from collections import Counter
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from themis_rm.cli.errors import user_errors

data_app = typer.Typer(help="Inspect and validate preference-pair sources.", no_args_is_help=True)


@data_app.command("show")
def show(
    source: Annotated[str, typer.Argument(help="builtin, a file, a directory, a saved dataset or a hub id.")] = "builtin",
    on_invalid: Annotated[str, typer.Option(help="error | skip.")] = "error",
) -> None:
    """Validate a source and print its pair counts per aspect × language cell."""
    from themis_rm.data import DataError, read_pairs
    from themis_rm.schema import Aspect, Language

    with user_errors(DataError):
        pair_set = read_pairs(source, on_invalid=on_invalid)
    counts = Counter((p.aspect, p.language) for p in pair_set.pairs)
    aspects = [a for a in Aspect if any(key[0] is a for key in counts)]
    table = Table(title=f"{source}: {len(pair_set.pairs)} pairs")
    table.add_column("aspect")
    for language in Language:
        table.add_column(language.value, justify="right")
    table.add_column("total", justify="right")
    for aspect in aspects:
        row = [counts.get((aspect, language), 0) for language in Language]
        table.add_row(aspect.value, *[str(n) if n else "·" for n in row], str(sum(row)))
    totals = [sum(counts.get((a, language), 0) for a in aspects) for language in Language]
    table.add_row("total", *map(str, totals), str(sum(totals)), style="bold")
    console = Console()
    console.print(table)
    subsets = Counter(p.subset for p in pair_set.pairs)
    console.print("subsets: " + ", ".join(f"{name} {n}" for name, n in sorted(subsets.items())))
    if pair_set.skipped:
        console.print(f"skipped {len(pair_set.skipped)} invalid row(s): {pair_set.skipped_by_reason()}")


def register(app: typer.Typer) -> None:
    app.add_typer(data_app, name="data")
