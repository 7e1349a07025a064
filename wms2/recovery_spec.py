"""What a Resubmission (ACDC) request recovers: its original, where to start, where the
failed work is recorded, and, once the import has read it, how much work that is.

A module of its own, importing nothing of WMS2: the request model carries it, ReqMgr2's
reader fills it, and wms2.recovery (which reads the failed work) uses both.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

# splitting_params keys of a recovery, read by planning (wms2.planning.inputs, splitting).
RECOVERY_FILES = "recovery_files"  # the failed input files (data processing)
EVENT_RANGES = "event_ranges"  # [[first_event, events, [lumi, ...]], ...] (generation)

# Where the failed work was read from.
SOURCE_WMS2 = "wms2"  # WMS2 ran the original: its DAG records and planned work units
SOURCE_ACDC = "acdc"  # WMCore ran it: the ACDC collection in CouchDB


class Recovery(BaseModel):
    model_config = ConfigDict(validate_assignment=True)

    original_request: str
    original_type: str  # StepChain, TaskChain or ReReco (an ACDC of ACDC: the root's)
    task_path: str  # InitialTaskPath, /<original>/<first task>
    acdc_server: str = "https://cmsweb.cern.ch/couchdb"
    acdc_database: str = "acdcserver"
    collection: str  # CollectionName, else the original's name (WMCore's truncate)
    resubmission_count: int = Field(default=1, ge=1)
    # Filled by the import once the failed work is read.
    source: str = ""
    work_units: int = 0  # the original's failed work units (WMS2) or failed jobs (ACDC)
    files: int = 0  # input files to read again (data processing)
    lumis: int = 0
    events: int = 0

    @property
    def fileset(self) -> str:
        """The ACDC fileset name: WMCore records failures under the task's path."""
        return self.task_path

    def describe(self) -> str:
        """One line for the status screens: what is recovered, from where, how much."""
        if not self.source:
            return f"recovery of {self.original_request} ({self.task_path})"
        where = (
            "WMS2 records"
            if self.source == SOURCE_WMS2
            else (f"ACDC {self.acdc_database}/{self.collection}")
        )
        what = (
            f"{self.work_units} failed unit(s)"
            if self.source == SOURCE_WMS2
            else (f"{self.work_units} failed job record(s)")
        )
        size = (
            f"{self.files} file(s), {self.lumis} lumi(s)"
            if self.files
            else (f"{self.events} event(s), {self.lumis} lumi(s)")
        )
        return f"recovery of {self.original_request} from {where}: {what}, {size}"
