"""Suites: every run a submission needs (benchmark x scenario x mode x compliance test) from the
round's rules, run in order, resumable, ending in a built and checked submission tree."""
