"""What the DAG directory says was merged: each work unit's merge report, read back into
the files an output workflow tracks. The authority when a record may be missing."""

from __future__ import annotations

from wms2.dagfiles.layout import MERGE_OUTPUT, DagLayout
from wms2.dagman.status import MergeReportError, merged_file, read_merge_output
from wms2.outputs.messages import WorkUnitFile


def merged_work_unit_files(layout: DagLayout, dataset: str) -> list[WorkUnitFile]:
    """The merged files of `dataset` of every work unit whose merge report is readable,
    in work unit order. An unreadable report is left to the DAG-end reconciliation."""
    files = []
    for path in sorted(layout.root.glob(f"mg_*/{MERGE_OUTPUT}")):
        try:
            report = read_merge_output(path)
        except MergeReportError:
            continue
        files += [
            WorkUnitFile(work_unit=path.parent.name, **merged_file(o, with_dataset=False))
            for o in report["outputs"]
            if o["dataset"] == dataset
        ]
    return files
