"""The operator command line's parts (starter.py is its entry point)."""
