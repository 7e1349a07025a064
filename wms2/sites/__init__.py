"""The site manager's domain (spec 4.9 and section 12): site statuses and who may get
work, the CRIC site list, failure-driven alerts and bans. Pure: no Temporal, no I/O
beyond the files handed in."""
