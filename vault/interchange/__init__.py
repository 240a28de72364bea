"""Backups and Markdown interchange: sealed backup files and import/export of Markdown folders.
It imports notes, storage, sealing and the primitives, never sync or a face.
"""
