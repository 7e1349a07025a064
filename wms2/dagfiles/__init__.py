"""Everything WMS2 writes into a DAG directory: DAG files, submit descriptions, manifests,
the sandbox and the worker-node scripts."""

from wms2.dagfiles.layout import DagLayout, PathEscapeError, dag_directory
from wms2.dagfiles.writer import PayloadOptions, write_dag_directory, write_pilot_directory

__all__ = [
    "DagLayout",
    "PathEscapeError",
    "PayloadOptions",
    "dag_directory",
    "write_dag_directory",
    "write_pilot_directory",
]
