"""Hardening tests: fuzzed list files, a broken-media corpus, kills at random moments, concurrent
runs and failing writes. What these files share lives in :mod:`hardening.tools`."""
