"""Temporal activities: every side effect (services, files, condor, database)."""
