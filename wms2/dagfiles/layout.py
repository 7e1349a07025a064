"""Names of the files in a DAG directory, shared by the writer, the backends and the
monitor so that each name is spelled once."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DAG_FILE = "workflow.dag"
GROUP_DAG = "group.dag"
GROUP_MANIFEST = "group_manifest.json"
MERGE_OUTPUT = "merge_output.json"
ELECTED_SITE = "elected_site"
SITE_SUBMIT = "site.sub"
PRIORITY_SUBMIT = "priority.sub"  # the DAG's JobPrio, included by every submit file
LANDING_OUTPUT = "landing.out"
SANDBOX = "sandbox.tar.gz"
PLAN_FILE = "plan.json"
PILOT_DIR = "pilot"
PILOT_SUBMIT = "pilot.sub"
PILOT_METRICS = "pilot_metrics.json"


class DagDirectoryInUse(ValueError):
    """Planning would overwrite a DAG directory that a DAG runs in or has produced in."""


class ManifestError(ValueError):
    """A work unit's group manifest cannot be read (corrupt, or not WMS2's shape)."""


class PathEscapeError(ValueError):
    """A path computed from request data would leave the submit directory."""


def dag_directory(submit_dir: Path, request_name: str) -> Path:
    """The DAG directory of a request, guaranteed to lie inside `submit_dir`."""
    root = Path(submit_dir).resolve()
    path = (root / request_name).resolve()
    if path.parent != root:
        raise PathEscapeError(
            f"request name {request_name!r} would place its DAG directory at {path}, "
            f"outside the submit directory {root}"
        )
    return path


@dataclass(frozen=True)
class DagLayout:
    root: Path

    @property
    def dag_file(self) -> Path:
        return self.root / DAG_FILE

    @property
    def status_file(self) -> Path:
        return self.root / f"{DAG_FILE}.status"

    @property
    def jobstate_log(self) -> Path:
        return self.root / f"{DAG_FILE}.jobstate.log"

    @property
    def metrics_file(self) -> Path:
        return self.root / f"{DAG_FILE}.metrics"

    @property
    def bin_dir(self) -> Path:
        return self.root / "bin"

    @property
    def sandbox(self) -> Path:
        return self.root / SANDBOX

    @property
    def plan_file(self) -> Path:
        return self.root / PLAN_FILE

    @property
    def pilot_dir(self) -> Path:
        return self.root / PILOT_DIR

    @property
    def lock_file(self) -> Path:
        return self.root / f"{DAG_FILE}.lock"

    def check_replannable(self) -> None:
        """Refuse to replan over a DAG that may be running (DAGMan's lock file) or that
        has produced work (merge reports): its status, rescue and merge files are the
        request's record of what is done."""
        if not self.dag_file.exists():
            return
        if self.lock_file.exists():
            raise DagDirectoryInUse(
                f"{self.root} has a DAGMan lock file ({self.lock_file.name}): "
                "its DAG may be running; not replanned"
            )
        merged = sorted(self.root.glob(f"mg_*/{MERGE_OUTPUT}"))
        if merged:
            raise DagDirectoryInUse(
                f"{self.root} holds {len(merged)} merged work unit(s) "
                f"(first {merged[0].parent.name}); not replanned"
            )

    def group_dir(self, work_unit: str) -> Path:
        return self.root / work_unit

    def merge_output(self, work_unit: str) -> Path:
        return self.group_dir(work_unit) / MERGE_OUTPUT
