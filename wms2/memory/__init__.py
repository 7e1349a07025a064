"""Memory a job may grow to: the policy (wms2.memory.policy) and the record of every raise
of a job's RequestMemory (wms2.memory.ledger)."""
