"""Submission trees: build one from stored runs, check it, and the compliance tests (TEST01,
TEST04) that go in it. Pure functions of stored results; LoadGen is never imported here."""
