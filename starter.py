"""WMS2 operator command line: `python starter.py --help` lists the commands (cli/)."""

from __future__ import annotations

import os
import sys

from cli.main import main

if __name__ == "__main__":
    code = main()
    # The Temporal client's native threads can still be winding down while the interpreter
    # finalizes (a fatal "PyGILState_Release" abort after the work is done): leave at once.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
