"""The soak: `python -m tests.soak` (not part of the test suite)."""
