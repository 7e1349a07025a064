"""WMS2 domain library: no Temporal imports, plain functions and classes."""
