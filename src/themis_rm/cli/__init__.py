"""The `themis` command: one typer app, one module per verb, each a thin wrapper over the library."""
