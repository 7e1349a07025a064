"""DQM GUI upload on httpx, as WMCore's DQMUpload step does it: POST <DQMUploadUrl>/data/put,
multipart form with `checksum` ("md5:<hex>"), `size` and the file as `file`; the GUI
answers with Dqm-Status-Code / Dqm-Status-Message headers (>= 400 is a refusal, even
with HTTP 200)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wms2.services.errors import ServiceRequestError

if TYPE_CHECKING:  # an annotation only: the offline catalog reads these without httpx
    from wms2.services.http import ServiceClient


def upload_form(path: Path) -> dict[str, str]:
    data = path.read_bytes()
    return {"checksum": f"md5:{hashlib.md5(data).hexdigest()}", "size": str(len(data))}


class DQMGUIClient:
    """One DQM GUI (the base URL is the request's DQMUploadUrl)."""

    def __init__(self, http: ServiceClient) -> None:
        self.http = http

    def upload_dqm(self, url: str, path: Path) -> dict[str, Any]:
        form = upload_form(path)
        with open(path, "rb") as f:
            response = self.http.request(
                "POST",
                f"{url.rstrip('/')}/data/put",
                data=form,
                files={"file": (path.name, f, "application/octet-stream")},
            )
        code = int(response.headers.get("Dqm-Status-Code", 400))
        if code >= 400:
            message = response.headers.get("Dqm-Status-Message", "")
            raise ServiceRequestError(
                "dqm", f"upload of {path.name} to {url} refused ({code}): {message}", code
            )
        return {"url": url, "file": path.name, **form}
