"""The local execution backend: a DAGMan-compatible runner that executes WMS2's DAG
directories with subprocesses, one detached runner process per submitted DAG."""
