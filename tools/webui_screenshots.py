"""Screenshots of the Temporal Web UI for the README, from a running stack (`make demo`).

    python tools/webui_screenshots.py [--ui http://127.0.0.1:8233] [--request NAME]

Drives Debian's Chromium through chromedriver's WebDriver HTTP API (no Selenium needed).
The workflow list gets WMS2's search attributes as columns the way an operator adds them
with *Configure Columns*: the UI keeps that choice in the browser's localStorage
(`namespace-workflow-table-columns`), which is set before the list loads.
Writes docs/webui-list.png, docs/webui-request.png and docs/webui-output.png.
"""

from __future__ import annotations

import argparse
import base64
import json
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import httpx

ROOT = Path(__file__).resolve().parent.parent
GEN = "cmsunified_task_GEN-RunIII2024Summer24GS-00002__v1_T_261121_080000_1359"
COLUMNS = [
    {"label": "Status", "pinned": True},
    {"label": "Workflow ID", "pinned": True},
    {"label": "WMS2Status", "pinned": False},
    {"label": "WMS2Priority", "pinned": False},
    {"label": "WMS2Campaign", "pinned": False},
    {"label": "Type", "pinned": False},
    {"label": "Start", "pinned": False},
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Browser:
    def __init__(self, width: int, height: int) -> None:
        self.port = free_port()
        self.driver = subprocess.Popen(
            ["chromedriver", f"--port={self.port}"], stdout=subprocess.DEVNULL
        )
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=60)
        for _ in range(100):
            try:
                self.http.get("/status")
                break
            except httpx.TransportError:
                time.sleep(0.1)
        caps = {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", f"--window-size={width},{height}"],
            },
        }
        answer = self.http.post("/session", json={"capabilities": {"alwaysMatch": caps}})
        self.session = f"/session/{answer.json()['value']['sessionId']}"

    def go(self, url: str, settle: float = 6.0) -> None:
        self.http.post(f"{self.session}/url", json={"url": url})
        time.sleep(settle)  # the UI loads its data after the page

    def run(self, script: str) -> object:
        answer = self.http.post(f"{self.session}/execute/sync", json={"script": script, "args": []})
        return answer.json()["value"]

    def shot(self, path: Path) -> None:
        data = self.http.get(f"{self.session}/screenshot").json()["value"]
        path.write_bytes(base64.b64decode(data))
        print(f"wrote {path}")

    def close(self) -> None:
        self.http.delete(self.session)
        self.driver.terminate()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--ui", default="http://127.0.0.1:8233")
    p.add_argument("--request", default=GEN)
    p.add_argument("--namespace", default="default")
    args = p.parse_args(argv)
    ns = args.namespace
    docs = ROOT / "docs"
    browser = Browser(2100, 980)  # wide enough for the WMS2 columns beside the ids
    try:
        browser.go(f"{args.ui}/namespaces/{ns}/workflows", settle=3)
        browser.run(
            "localStorage.setItem('namespace-workflow-table-columns', "
            f"JSON.stringify({json.dumps({ns: COLUMNS})}))"
        )
        browser.go(f"{args.ui}/namespaces/{ns}/workflows")
        browser.shot(docs / "webui-list.png")
    finally:
        browser.close()
    browser = Browser(1440, 1300)
    try:
        request_id = quote(f"request-{args.request}", safe="")
        browser.go(f"{args.ui}/namespaces/{ns}/workflows/{request_id}")
        browser.shot(docs / "webui-request.png")
        output_id = quote(f"output-{args.request}-1", safe="")
        browser.go(f"{args.ui}/namespaces/{ns}/workflows/{output_id}")
        browser.shot(docs / "webui-output.png")
    finally:
        browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
