"""Which sites may get which work: the rules every layer applies the same way.

- enabled: new landings and pinned work.
- draining: no new landings; work already pinned there (its group elected it) finishes.
- disabled, banned: nothing new; pinned work not yet started re-elects elsewhere.

The submit host learns the current statuses from one JSON file that WMS2 rewrites on every
change ({"sites": {name: status}}); the DAGs' PRE scripts read it when they run and apply
the same rules (wms2/dagfiles/scripts/site_rules.py: the scripts run without wms2).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

from wms2.models import SiteStatus

SITE_STATUS_FILE = "site_status.json"
NO_LANDING = {SiteStatus.DRAINING, SiteStatus.DISABLED, SiteStatus.BANNED}
NO_PINNED_WORK = {SiteStatus.DISABLED, SiteStatus.BANNED}


def site_status_path(submit_dir: Path) -> Path:
    return Path(submit_dir).resolve() / SITE_STATUS_FILE


def write_site_status(path: Path, statuses: Mapping[str, SiteStatus | str]) -> None:
    """Atomically: a PRE script never reads half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"sites": {k: str(v) for k, v in sorted(statuses.items())}}))
    os.replace(tmp, path)
