"""fbtui: a terminal workbench for facial beauty prediction research."""

__version__ = "0.1.0"
