"""Activity tests use the `deps` fixture of tests/conftest.py."""
