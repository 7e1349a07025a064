"""DAGMan's own formats: the DAG file parser, the node status, rescue and metrics
files, the JOBSTATE_LOG (read by WMS2, written by the local runner as DAGMan would)."""
