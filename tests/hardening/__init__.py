"""Hardening tests: fuzzed list files, a broken-media corpus, kills at random moments, concurrent
runs and failing writes. Helpers shared by these files live in :mod:`hardening.tools`."""
