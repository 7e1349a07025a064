"""Planning's pieces: what a request reads (input files, lumis, pileup), how it is
split into processing nodes and merged into work units, the LFNs of its outputs, the
pilot's report. wms2.plan_dag puts them together into a DAG directory."""
