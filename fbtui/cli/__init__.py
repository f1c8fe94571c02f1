"""The Typer CLI. Each command group lives in its own `*_cmd.py` module and imports
heavy libraries (torch, textual) lazily inside the command function."""
