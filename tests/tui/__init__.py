"""Tests of the terminal app (Pilot flows and snapshots)."""
