"""The local store: SQLite with the sealed items and ops, the vault header, format upgrades and the
sealed blob store. It imports sealing and the primitives.
"""
