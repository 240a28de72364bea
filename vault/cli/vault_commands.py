"""The commands on the vault as a whole: `vault init|passwd|rekey|check|status|config` (their
arguments are in `vault.cli.parser`)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from vault.cli import output as cli_output
from vault.cli.common import (
    emit_json,
    info,
    keyfile_arg,
    open_vault,
    out,
    read_new_password,
    read_secret,
    session_json,
    session_line,
    vault_dir,
)
from vault.config import Config
from vault.errors import InvalidInputError, VaultError
from vault.notes.vault import Vault, inspect_vault
from vault.paths import expanded
from vault.sealing.crypto import TEST_KDF, KdfParams
from vault.sealing.keys import create_keyfile
from vault.storage.store import Store
from vault.wording import plural


def cmd_init(args: argparse.Namespace, config: Config) -> int:
    path = vault_dir(args, config)
    Store.check_can_create(path)
    keyfile = keyfile_arg(args)
    password = os.environ.get("VAULT_PASSWORD")
    if password is None:
        password = read_new_password("VAULT_PASSWORD")
    elif not password:
        raise InvalidInputError("VAULT_PASSWORD is empty; the password cannot be empty")
    if keyfile is not None and not keyfile.exists():
        _make_keyfile(keyfile)
        info(f"Created keyfile {keyfile}: keep a copy somewhere safe, apart from the vault.")
    if args.insecure_test_kdf:
        info("warning: tiny KDF parameters (--insecure-test-kdf); for tests only")
        kdf, weak = TEST_KDF, True
    else:
        kdf, weak = _measure_kdf(), False
    vault, recovery = Vault.create(path, password, keyfile=keyfile, kdf=kdf, allow_weak_kdf=weak)
    with vault:
        if args.json:
            emit_json({"vault": str(path), "vault_id": vault.vault_id, "recovery_key": recovery})
            return 0
        out(f"Created a vault at {path}")
        out()
        out("Your recovery key (shown only this once):")
        out()
        groups = recovery.split("-")
        out("    " + "-".join(groups[:7]))
        out("    " + "-".join(groups[7:]))
        out()
        out("Write it down and keep it somewhere safe. With it you can set a new password")
        out("if you forget yours (vault passwd --recovery); without both, nobody can open")
        out("your notes, including us.")
    return 0


def _measure_kdf() -> KdfParams:
    """Argon2 parameters measured on this machine, saying so on stderr. On a terminal the
    "Measuring" line is rewritten in place with the outcome; in a log or a pipe every line
    is whole, so nothing written after it lands on the same line."""
    from vault.sealing.crypto import calibrate_kdf

    measuring = "Measuring this machine to choose key-derivation cost…"
    terminal = _stderr_is_terminal()
    sys.stderr.write(measuring if terminal else measuring + "\n")
    sys.stderr.flush()
    try:
        kdf = calibrate_kdf()
    except BaseException:
        if terminal:
            sys.stderr.write("\n")  # the error gets a line of its own
        raise
    outcome = (
        f"Key derivation: Argon2id with {kdf.memory_kib // 1024} MiB and {kdf.time_cost} "
        "passes, measured for this machine."
    )
    # A carriage return and a line at least as long: no escape sequence, so any terminal.
    # Written directly: info() shows every control character visibly, this one included.
    if terminal:
        sys.stderr.write("\r" + outcome.ljust(len(measuring)) + "\n")
    else:
        info(outcome)
    return kdf


def _stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def _make_keyfile(path: Path) -> None:
    create_keyfile(path)  # shared with the app's first-run screen


def cmd_passwd(args: argparse.Namespace, config: Config) -> int:
    path = vault_dir(args, config)
    new_keyfile: Path | None
    if args.no_keyfile:
        new_keyfile = None
    elif args.new_keyfile:
        new_keyfile = expanded(args.new_keyfile)
    else:
        new_keyfile = keyfile_arg(args)  # keep using the same keyfile
    if args.recovery:
        inspect_vault(path)
        recovery = read_secret("Recovery key: ", "VAULT_RECOVERY_KEY", "recovery key")
        vault = Vault.unlock(path, recovery_key=recovery)
    else:
        vault = open_vault(args, config, use_session=False)
    with vault:
        password = read_new_password()
        if new_keyfile is not None and not new_keyfile.exists():
            _make_keyfile(new_keyfile)
            info(f"Created keyfile {new_keyfile}: keep a copy somewhere safe.")
        vault.change_password(password, keyfile=new_keyfile)
        info("Password changed." + (" The vault now needs its keyfile." if new_keyfile else ""))
        for name in vault.damaged_slot_files:
            # (a password change removes the slots it can read; this one it could not)
            info(
                f"warning: keys/{name} did not read as a key slot and was left as it is: if "
                "it held the old password, move it out of the vault's keys folder"
            )
    return 0


def cmd_rekey(args: argparse.Namespace, config: Config) -> int:
    with open_vault(args, config) as vault:
        password = os.environ.get("VAULT_PASSWORD") or read_secret(
            "Password (again, to re-wrap the new key): ", "VAULT_PASSWORD", "vault password"
        )
        remote = _rekey_sync_first(vault, config, offline=args.offline)
        travel = not args.new_folder
        info("Re-encrypting every version of every item under a new master key…")
        recovery = vault.rekey(password, keyfile=keyfile_arg(args), travel=travel)
        for name in vault.damaged_slot_files:
            # (the old key's slots that read are gone; one that did not may wrap the old key)
            info(
                f"warning: keys/{name} did not read as a key slot and was left as it is: if "
                "it held the old key, move it out of the vault's keys folder"
            )
        from vault.session import agent_client  # (not loaded by the commands that need none)

        if agent_client.lock(vault.path, vault.vault_id):
            info("Locked the unlocked session: it held the old key.")
        if travel:
            _rekey_publish(vault, remote, offline=args.offline)
        elif remote is not None:
            info(
                f"Your other devices still use the old key with {remote}. This device will not "
                "sync there again: start a new folder here with `vault remote set NEWDIR`, then "
                "clone each other device from it (`vault clone NEWDIR`); a device that has "
                "changes it never synced should back them up or export them first."
            )
        if args.json:
            emit_json({"recovery_key": recovery, "travels": travel})
            return 0
        out("Done. Your NEW recovery key (the old one no longer works):")
        out()
        groups = recovery.split("-")
        out("    " + "-".join(groups[:7]))
        out("    " + "-".join(groups[7:]))
    return 0


def _rekey_publish(vault: Vault, remote: Path | None, *, offline: bool) -> None:
    """Put the rotation into the sync folder now (the next sync would), and say what the
    other devices will do."""
    from vault.sync import SyncEngine

    if remote is not None and not offline:
        try:
            SyncEngine(vault, remote).sync()
            info(f"Published the new key to {remote}, sealed under the old one.")
        except VaultError as exc:
            info(
                f"The new key is not in {remote} yet ({exc}); the next `vault sync` puts it there."
            )
    elif remote is not None:
        info(f"The next `vault sync` puts the new key into {remote}, sealed under the old one.")
    if remote is None:
        info(
            "This vault has no sync folder; if it gets one, devices cloned from it before "
            "this rekey follow the new key there."
        )
        return
    info(
        "Your other devices follow at their next sync with that folder: each keeps its own "
        "password, the recovery key below replaces the old one on all of them, and changes "
        "they made meanwhile are kept (a device unlocked only by `vault unlock` follows once "
        "it syncs after being opened with its password). This rotation is sealed under the "
        "old key: whoever has that key, or an old password or recovery key and a copy of the "
        "folder, can read the new one. If that may be so, rotate with `vault rekey "
        "--new-folder` instead (docs/SECURITY.md)."
    )


def _rekey_sync_first(vault: Vault, config: Config, *, offline: bool) -> Path | None:
    """Before the key changes, pull what the other devices put in the sync folder: after the
    rekey this device can no longer read it, and their edits would be left behind."""
    from vault.sync import SyncEngine, configured_remote

    remote = configured_remote(vault, config.get("sync.remote") or "")
    if remote is None or offline:
        return remote
    info(f"Syncing with {remote} first, so changes other devices made are kept…")
    try:
        SyncEngine(vault, remote).sync()
    except VaultError as exc:
        raise VaultError(
            f"could not sync first ({exc}); fix that, or rekey with --offline to leave the "
            "folder's newest changes behind"
        ) from None
    return remote


def cmd_check(args: argparse.Namespace, config: Config) -> int:
    with open_vault(args, config, history_warning=False) as vault:
        report = vault.check()
        if args.json:
            emit_json(
                {
                    "items": report.items,
                    "versions": report.versions,
                    "corrupt": report.corrupt,
                    "conflicts": report.conflicts,
                    "history": report.history,
                    "blobs": report.blobs,
                    "damaged_blobs": report.damaged_blobs,
                    "damaged_slots": report.damaged_slots,
                }
            )
        else:
            out(
                f"{plural(report.items, 'item')}, {plural(report.versions, 'version')}, "
                f"{plural(report.blobs, 'attached file')} checked."
            )
            if report.history:
                out(f"  altered: {report.history}")
            for reason in sorted(report.corrupt.values()):
                out(f"  damaged: {reason}")
            for reason in sorted(report.damaged_blobs.values()):
                out(f"  damaged: {reason}")
            for name, reason in sorted(report.damaged_slots.items()):
                out(
                    f"  damaged: key slot {cli_output.field(name)}: {cli_output.field(reason)} "
                    "(skipped: the other slots still open the vault)"
                )
            if report.conflicts:
                out(f"  {plural(len(report.conflicts), 'item')} with conflicting versions.")
            if report.ok:
                out("Everything opens.")
        if report.history:
            vault.acknowledge_history_incident()  # shown: later commands stop repeating it
        return 0 if report.ok else 1


def cmd_status(args: argparse.Namespace, config: Config) -> int:
    path = vault_dir(args, config)
    vi = inspect_vault(path)
    from vault.session import agent_client

    session = agent_client.status(path, vi.vault_id)
    doc: dict[str, Any] = {
        "vault": str(path),
        "vault_id": vi.vault_id,
        "key_slots": list(vi.slot_types),
        "needs_keyfile": vi.needs_keyfile,
        "config": str(config.path),
    }
    if args.json:
        doc["session"] = session_json(session)
        emit_json(doc)
    else:
        for k, v in doc.items():
            out(f"{k:14} {', '.join(v) if isinstance(v, list) else v}")
        out(f"{'session':14} {session_line(session)}")
    return 0


def cmd_config(args: argparse.Namespace, config: Config) -> int:
    if args.action == "path":
        out(str(config.path))
    elif args.action == "show":
        import tomli_w

        sys.stdout.write(tomli_w.dumps(config.effective()))
    elif args.action == "get":
        value = config.get(args.key)
        out(json.dumps(value) if not isinstance(value, str) else value)
    elif args.action == "set":
        config.set(args.key, args.value)
        config.save()
        info(f"{args.key} = {config.get(args.key)!r}")
    elif args.action == "unset":
        config.unset(args.key)
        config.save()
    return 0
