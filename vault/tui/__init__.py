"""The terminal app: a Textual face over the same domain API the CLI uses.

This package is the only place that imports Textual; `vault.cli` imports `vault.tui.app` lazily,
so the domain and the CLI stay free of it (tests/test_import_hygiene.py checks).
"""
