"""Following a DAG from what DAGMan writes: what changed since the last look, what
a finished DAG produced, and the rescue DAGs that rebuild a lost DAGMan's work."""
