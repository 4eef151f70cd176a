"""Hypothesis profiles of the convergence runs: ``ci`` by default, ``--hypothesis-profile=long``."""

from roomsync.testkit.convergence import register_profiles

register_profiles()
