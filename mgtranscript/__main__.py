"""``python -m mgtranscript``: the same as the ``mgtranscript`` command."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
