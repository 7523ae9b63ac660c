"""Subcommands of the ``mgtranscript`` CLI, one module each (see :mod:`mgtranscript.cli`)."""
