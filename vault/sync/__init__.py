"""Sync through a shared folder (docs/SYNC.md): the domain API the CLI and the app share.

    from vault.sync import SyncEngine, clone, list_conflicts, resolve, set_remote

Nothing here imports Textual.
"""

from __future__ import annotations

from vault.sync.clone import clone
from vault.sync.conflicts import (
    BOTH,
    CHOICES,
    MINE,
    THEIRS,
    Conflict,
    ConflictVersion,
    MergeOutcome,
    auto_merge,
    blocks_edit,
    get_conflict,
    list_conflicts,
    resolve,
)
from vault.sync.engine import (
    Pending,
    ProgressCallback,
    SyncEngine,
    SyncReport,
    SyncStatus,
    configured_remote,
)
from vault.sync.remote import RemoteFolder
from vault.sync.setup import RemoteInfo, remote_info, set_remote, unset_remote

__all__ = [
    "BOTH",
    "CHOICES",
    "MINE",
    "THEIRS",
    "Conflict",
    "ConflictVersion",
    "MergeOutcome",
    "Pending",
    "ProgressCallback",
    "RemoteFolder",
    "RemoteInfo",
    "SyncEngine",
    "SyncReport",
    "SyncStatus",
    "auto_merge",
    "blocks_edit",
    "clone",
    "configured_remote",
    "get_conflict",
    "list_conflicts",
    "remote_info",
    "resolve",
    "set_remote",
    "unset_remote",
]
