"""The sync folder is written by people and programs we do not control (issue 12, section 1).

Each test plants something a hostile peer (or a broken daemon) can put in the folder and runs
real syncs: symlinks (absolute and relative, to a folder of the person's files and to the
local vault), hard links, FIFOs, folders, /dev/zero and /dev/urandom behind a symlink, sparse
giant files, truncated, deeply nested and wrongly typed JSON, and permissions that deny
reading. The promises checked: no file outside the sync folder and the vault changes, no run
blocks, nothing saved is lost, and every problem is one line (no traceback).

Permission cases run as an unprivileged user (root reads everything): `vaulttest` is created
if missing (CI runs as root), else `nobody`; the vaults and the folder then live in a folder
that user owns, and the real `vault` command runs as that user through `setpriv`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pwd
import resource
import shutil
import sqlite3
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.conftest import PASSWORD, vault_command
from vault.errors import NotAVaultError, RemoteError, WrongPasswordError
from vault.notes.vault import Vault
from vault.sealing import crypto, keys
from vault.sealing.crypto import TEST_KDF
from vault.sync import SyncEngine, clone, layout, set_remote

RUN_TIMEOUT = 60  # seconds: a run that takes longer is taken as blocked, and fails the test
NESTED = b"[" * 1000 + b"]" * 1000

# --- the world: three devices syncing through one folder, and files that are not theirs ------


@dataclass
class World:
    root: Path

    @property
    def folder(self) -> Path:
        return self.root / "shared"

    @property
    def decoy(self) -> Path:
        """Stands for ~/Documents: a peer points symlinks here."""
        return self.root / "home" / "Documents"

    def vault(self, name: str) -> Path:
        return self.root / name

    def device(self, name: str) -> str:
        return json.loads((self.root / f"{name}.id").read_text())

    def log(self, name: str) -> Path:
        return self.folder / "log" / self.device(name)

    def keys(self, name: str) -> Path:
        return self.folder / "keys" / self.device(name)

    def env(self, name: str) -> dict[str, str]:
        home = self.root / "home"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "XDG_"))}
        env.update(
            {
                "VAULT_DIR": str(self.vault(name)),
                "VAULT_PASSWORD": PASSWORD,
                "VAULT_CONFIG": str(self.root / "config.toml"),
                "HOME": str(home),
                "XDG_DATA_HOME": str(home / "data"),
                "XDG_CONFIG_HOME": str(home / "config"),
                "XDG_STATE_HOME": str(home / "state"),
                "XDG_CACHE_HOME": str(home / "cache"),
                "XDG_RUNTIME_DIR": str(self.root / "run"),
                "NO_COLOR": "1",
            }
        )
        return env


def _build(root: Path) -> None:
    """Devices a, b and c with notes, all synced; a decoy folder beside them."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "run").mkdir(mode=0o700)
    world = World(root)
    world.decoy.mkdir(parents=True)
    (world.decoy / "taxes.txt").write_text("my taxes\n")
    (world.decoy / "sub").mkdir()
    (world.decoy / "sub" / "photo.jpg").write_bytes(os.urandom(2048))
    a, _ = Vault.create(world.vault("a"), PASSWORD, kdf=TEST_KDF, allow_weak_kdf=True)
    set_remote(a.store, world.folder)
    a.create_note("From a", "alpha")
    SyncEngine(a).sync()
    b, _ = clone(world.folder, world.vault("b"), password=PASSWORD)
    c, _ = clone(world.folder, world.vault("c"), password=PASSWORD)
    b.create_note("From b", "beta")
    c.create_note("From c", "gamma")
    for v in (b, c, a, b, c):
        SyncEngine(v).sync()
    for name, v in (("a", a), ("b", b), ("c", c)):
        (root / f"{name}.id").write_text(json.dumps(v.store.device_id))
        v.lock()


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hostile") / "world"
    _build(root)
    return root


@contextlib.contextmanager
def world_copy(template: Path, owner: pwd.struct_passwd | None = None) -> Iterator[World]:
    """A fresh copy of the template in /tmp (traversable by `owner`, who then owns it)."""
    base = Path(tempfile.mkdtemp(prefix="vh", dir="/tmp"))
    try:
        root = base / "w"
        shutil.copytree(template, root, symlinks=True)
        for name in ("a", "b", "c"):  # each copy syncs with its own copy of the folder
            db = sqlite3.connect(root / name / "store.sqlite")
            with db:
                db.execute(
                    "UPDATE meta SET value = ? WHERE key IN ('sync.remote', 'sync.folder')",
                    (str(root / "shared"),),
                )
            db.close()
        if owner is not None:
            for path in [base, *root.rglob("*"), root]:
                os.lchown(path, owner.pw_uid, owner.pw_gid)
        yield World(root)
    finally:
        for path in base.rglob("*"):
            with contextlib.suppress(OSError):
                if not path.is_symlink() and path.is_dir():
                    os.chmod(path, 0o700)
        shutil.rmtree(base, ignore_errors=True)


def unprivileged() -> pwd.struct_passwd | None:
    """The user the permission cases run as: None when not root (we are unprivileged)."""
    if os.geteuid() != 0:
        return None
    for name in ("vaulttest", "nobody"):
        if name == "vaulttest":
            with contextlib.suppress(KeyError):
                return pwd.getpwnam(name)
            if shutil.which("useradd"):
                made = subprocess.run(
                    ["useradd", "-M", "-r", "-s", "/usr/sbin/nologin", name],
                    capture_output=True,
                    check=False,
                )
                if made.returncode == 0:
                    return pwd.getpwnam(name)
            continue
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    pytest.skip("running as root and no unprivileged user exists or can be made")


@pytest.fixture(scope="module")
def user() -> pwd.struct_passwd | None:
    owner = unprivileged()
    if owner is not None and not shutil.which("setpriv"):
        pytest.skip("running as root and setpriv (util-linux) is missing")
    return owner


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    seconds: float
    max_rss_kib: int


def vault_cli(
    world: World,
    name: str,
    *args: str,
    owner: pwd.struct_passwd | None = None,
    memory_limit: int | None = None,
) -> Run:
    """The real `vault` command as device `name` (as `owner` if given), with a timeout that
    fails the test: a run that blocks is a defect."""
    command = [*vault_command(), *args]
    if owner is not None:
        give(world, owner)
        command = [
            "setpriv",
            f"--reuid={owner.pw_uid}",
            f"--regid={owner.pw_gid}",
            "--clear-groups",
            *command,
        ]

    def limits() -> None:
        if memory_limit is not None:
            resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))

    # Output to files, and the child reaped with wait4: its own peak memory (RUSAGE_CHILDREN
    # is the peak of every child this process ever had: a password change that measured the
    # KDF in an earlier test showed as this run's).
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.monotonic()
        proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            env=world.env(name),
            start_new_session=True,
            preexec_fn=limits,
        )
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() - started > RUN_TIMEOUT:
                os.killpg(proc.pid, 9)
                os.wait4(proc.pid, 0)
                proc.returncode = -9  # (reaped here: Popen must not wait for it again)
                pytest.fail(f"`vault {' '.join(args)}` blocked for more than {RUN_TIMEOUT} s")
            time.sleep(0.005)
        seconds = time.monotonic() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Run(
            proc.returncode, out.read().decode(), err.read().decode(), seconds, usage.ru_maxrss
        )


def give(world: World, owner: pwd.struct_passwd) -> None:
    """Make `owner` own everything in the world again (root may have made files meanwhile)."""
    for path in [world.root, *world.root.rglob("*")]:
        with contextlib.suppress(OSError):
            os.lchown(path, owner.pw_uid, owner.pw_gid)


def assert_one_line_problems(run: Run) -> None:
    """A sensible exit and, for every problem, one line a person can read: no traceback."""
    assert "Traceback" not in run.stderr and "internal error" not in run.stderr, run.stderr
    assert run.code in (0, 1, 3), (run.code, run.stderr)
    if run.code == 1:
        lines = run.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("vault: "), run.stderr


def tree(path: Path) -> dict[str, object]:
    """What a folder holds, without following links: kind, mode, bytes' hash, link target."""
    out: dict[str, object] = {}
    for dirpath, dirnames, filenames in os.walk(path, followlinks=False):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st_ = p.lstat()
            if stat.S_ISREG(st_.st_mode):
                out[str(p)] = ("file", st_.st_mode, hashlib.sha256(p.read_bytes()).hexdigest())
            elif stat.S_ISLNK(st_.st_mode):
                out[str(p)] = ("link", os.readlink(p))
            else:
                out[str(p)] = ("other", st_.st_mode)
    return out


def notes(world: World, name: str) -> set[tuple[str, str]]:
    vault = Vault.unlock(world.vault(name), password=PASSWORD)
    try:
        return {(n.title, n.body) for n in vault.all_notes()}
    finally:
        vault.lock()


def guarded(world: World) -> dict[str, object]:
    """Everything outside the sync folder that no sync may change: the decoy, and each
    vault's identity and key slots (its store changes, by design)."""
    out = tree(world.decoy)
    for name in ("a", "b", "c"):
        out.update(tree(world.vault(name) / "keys"))
        out.update(tree(world.vault(name) / "vault.json"))
    return out


# --- the critical one: a symlinked device folder ---------------------------------------------


@pytest.mark.parametrize("area", ["keys", "log"])
@pytest.mark.parametrize("target", ["documents", "documents-relative", "vault"])
def test_a_symlinked_own_folder_deletes_nothing_it_points_to(
    template: Path, area: str, target: str
) -> None:
    with world_copy(template) as world:
        own = world.folder / area / world.device("b")
        shutil.rmtree(own)
        aim = {
            "documents": world.decoy,
            "documents-relative": Path(os.path.relpath(world.decoy, own.parent)),
            "vault": world.vault("b"),
        }[target]
        own.symlink_to(aim)
        before = guarded(world)
        before_vault = tree(world.vault("b"))
        saved = notes(world, "b")
        a = Vault.unlock(world.vault("a"), password=PASSWORD)
        a.create_note("New on a", "arrives anyway")
        SyncEngine(a).sync()
        a.lock()
        b = Vault.unlock(world.vault("b"), password=PASSWORD)
        b.create_note("New on b", "local change")
        report = SyncEngine(b).sync()
        b.lock()
        assert guarded(world) == before
        after_vault = tree(world.vault("b"))
        assert set(before_vault) <= set(after_vault)  # nothing of the vault went
        assert own.is_symlink() and os.readlink(own) == str(aim)  # refused, left alone
        assert any("not a real folder" in w for w in report.warnings), report.lines()
        assert all("\n" not in line for line in report.lines())
        got = notes(world, "b")
        assert saved <= got and ("New on a", "arrives anyway") in got
        if area == "keys":  # the log is a real folder: the local change still goes out
            assert report.pushed == 1
        # nothing could be sent through a refused log folder: not a success for a script
        assert (report.not_sent is not None) == (area == "log") and report.ok == (area == "keys")


def test_a_symlinked_peer_folder_is_pending_not_followed(template: Path) -> None:
    with world_copy(template) as world:
        peer = world.log("a")
        shutil.rmtree(peer)
        peer.symlink_to(world.decoy)
        before = guarded(world)
        b = Vault.unlock(world.vault("b"), password=PASSWORD)
        report = SyncEngine(b).sync()
        b.lock()
        assert guarded(world) == before
        assert [p.file for p in report.pending] == ["its log folder"]
        assert "not a real folder" in report.pending[0].reason
        assert not report.rollbacks  # refused, not taken for a log that went away


# --- what cannot be read must not block, eat memory or fail every sync -----------------------


def _own_slot(world: World, name: str) -> Path:
    return sorted(world.keys(name).iterdir())[0]


@pytest.mark.parametrize("where", ["slot", "log"])
def test_a_fifo_in_place_of_an_own_file_does_not_block(template: Path, where: str) -> None:
    with world_copy(template) as world:
        path = _own_slot(world, "b") if where == "slot" else sorted(world.log("b").iterdir())[0]
        path.unlink()
        os.mkfifo(path)
        for _ in range(2):
            run = vault_cli(world, "b", "sync")
            assert run.code == 0, run.stderr
            assert_one_line_problems(run)
        assert stat.S_ISFIFO(path.lstat().st_mode)  # not ours to remove
        assert {("From a", "alpha"), ("From b", "beta")} <= notes(world, "b")


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_a_symlink_to_an_endless_device_is_refused_with_bounded_memory(
    template: Path, device: str
) -> None:
    with world_copy(template) as world:
        own_slot = _own_slot(world, "b")
        own_slot.unlink()
        own_slot.symlink_to(device)
        (world.log("a") / layout.chain_file_name(90, "9" * 32, "seg")).symlink_to(device)
        (world.folder / "keys" / world.device("c") / ("0" * 32 + ".slot")).symlink_to(device)
        run = vault_cli(world, "b", "sync", memory_limit=1 << 30)
        assert_one_line_problems(run)
        assert run.code == 0, run.stderr
        clone_run = vault_cli(
            world, "b", "clone", str(world.folder), "--vault", str(world.root / "d")
        )
        assert clone_run.code == 0, clone_run.stderr


def test_a_folder_in_place_of_an_own_slot_fails_no_sync(template: Path) -> None:
    with world_copy(template) as world:
        own_slot = _own_slot(world, "b")
        own_slot.unlink()
        own_slot.mkdir()
        (own_slot / "inside").write_text("x")
        for _ in range(2):
            run = vault_cli(world, "b", "sync")
            assert run.code == 0, run.stderr
        assert (own_slot / "inside").read_text() == "x"


# --- isolation: one unreadable place holds back only itself ----------------------------------


def test_an_unreadable_device_folder_holds_back_that_device_only(
    template: Path, user: pwd.struct_passwd | None
) -> None:
    with world_copy(template, user) as world:
        c = Vault.unlock(world.vault("c"), password=PASSWORD)
        c.create_note("Late from c", "still arrives")
        SyncEngine(c).sync()
        c.lock()
        b = Vault.unlock(world.vault("b"), password=PASSWORD)
        b.create_note("Late from b", "still sent")
        b.lock()
        own_files = len(list(world.log("b").iterdir()))
        os.chmod(world.log("a"), 0)
        try:
            run = vault_cli(world, "b", "sync", owner=user)
        finally:
            os.chmod(world.log("a"), 0o700)
        assert_one_line_problems(run)
        assert run.code == 0, run.stderr
        pending = [line for line in run.stdout.splitlines() if line.startswith("Pending")]
        assert len(pending) == 1 and world.device("a")[:8] in pending[0], run.stdout
        assert "permission denied" in pending[0]
        assert ("Late from c", "still arrives") in notes(world, "b")
        assert len(list(world.log("b").iterdir())) == own_files + 1  # the change went out


def test_clone_skips_an_unreadable_keys_folder(
    template: Path, user: pwd.struct_passwd | None
) -> None:
    with world_copy(template, user) as world:
        os.chmod(world.keys("a"), 0)
        try:
            run = vault_cli(
                world, "b", "clone", str(world.folder), "--vault", str(world.root / "d"), owner=user
            )
        finally:
            os.chmod(world.keys("a"), 0o700)
        assert run.code == 0, run.stderr
        assert_one_line_problems(run)
        assert {("From a", "alpha"), ("From c", "gamma")} <= notes(world, "d")


# --- giant sparse files with log-file names --------------------------------------------------


def test_sparse_giant_files_are_refused_unread(template: Path) -> None:
    """Nine 511 MiB sparse files with log-file names (a few KB of disk) took 13-20 s and
    1.6 GB per sync; a file with holes is now refused from its metadata alone."""
    with world_copy(template) as world:
        a_id = world.device("a")
        for i in range(9):
            name = layout.chain_file_name(100 + i, f"{i:032x}", "seg")
            with open(world.log("a") / name, "wb") as fh:
                fh.truncate(511 * 1024 * 1024)
        with open(world.log("a") / layout.chain_file_name(99, "e" * 32, "seg"), "wb") as fh:
            fh.truncate(600 * 1024 * 1024)  # above the protocol's limit: never read at all
        first = vault_cli(world, "b", "sync")
        assert first.code == 0, first.stderr
        assert first.max_rss_kib < 400 * 1024, first.max_rss_kib
        b = Vault.unlock(world.vault("b"), password=PASSWORD)
        try:
            started = time.monotonic()
            report = SyncEngine(b).sync()
            seconds = time.monotonic() - started
        finally:
            b.lock()
        assert report.files_read == 0 and seconds < 2.0, seconds
        giants = [p for p in report.pending if p.device == a_id and p.file.startswith("0")]
        assert len(giants) == 10, report.lines()  # still reported, one line each
        print(f"sparse giants: CLI run {first.seconds:.2f} s, max RSS {first.max_rss_kib >> 10}")
        print(f"MiB; next run {seconds:.3f} s")


def test_what_one_sync_reads_is_bounded_and_refusals_are_remembered(
    template: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vault.sync import reading

    monkeypatch.setattr(reading, "READ_BUDGET", 4 << 20)
    with world_copy(template) as world:
        for i in range(3):  # dense junk: it must be read to be judged
            name = layout.chain_file_name(100 + i, f"{i:032x}", "seg")
            (world.log("a") / name).write_bytes(os.urandom(3 << 20))
        b = Vault.unlock(world.vault("b"), password=PASSWORD)
        try:
            reads = [SyncEngine(b).sync().files_read for _ in range(4)]
            report = SyncEngine(b).sync()
        finally:
            b.lock()
        assert reads == [1, 1, 1, 0]  # one per run within the budget, then none: remembered
        assert sum("hash does not match" in p.reason for p in report.pending) == 3


# --- forged key slots ------------------------------------------------------------------------


def _slot_doc(world: World) -> tuple[keys.Slot, dict[str, object]]:
    path = next(p for p in world.keys("a").iterdir() if b'"password"' in p.read_bytes())
    slot = keys.Slot.from_json(path.read_bytes(), "slot")
    return slot, json.loads(path.read_bytes())


def _plant_slot(world: World, doc: dict[str, object], device: str | None = None) -> None:
    data = (json.dumps(doc, indent=2) + "\n").encode()
    folder = world.folder / "keys" / (device or crypto.random_id())
    folder.mkdir(exist_ok=True)
    (folder / layout.slot_file_name(layout.content_hash(data))).write_bytes(data)


def test_a_forged_slot_with_the_password_slots_id_cannot_take_its_place(template: Path) -> None:
    with world_copy(template) as world:
        real, doc = _slot_doc(world)
        forged = {k: v for k, v in doc.items() if k != "kdf"}
        forged.update(type="recovery", cipher=crypto.b64e(os.urandom(48)))
        for device in (world.device("a"), None):
            _plant_slot(world, forged, device)
        vault, _ = clone(world.folder, world.root / "d", password=PASSWORD)
        vault.lock()
        again = Vault.unlock(world.root / "d", password=PASSWORD)  # the password slot is there
        again.lock()
        local = keys.Slot.from_json(
            (world.root / "d/keys" / f"{real.slot_id}.json").read_bytes(), ""
        )
        assert local.slot_type == keys.PASSWORD


def test_clone_caps_what_forged_slots_cost(template: Path) -> None:
    with world_copy(template) as world:
        _, doc = _slot_doc(world)
        for _ in range(30):  # each asks for the highest Argon2 cost a reader accepts
            forged = dict(doc)
            forged["slot"] = os.urandom(8).hex()
            forged["kdf"] = dict(
                doc["kdf"], m=4 * 1024 * 1024, t=64, salt=crypto.b64e(os.urandom(16))
            )  # type: ignore[arg-type]
            _plant_slot(world, forged)
        for _ in range(20):  # and many cheap ones
            forged = dict(doc)
            forged["kdf"] = dict(doc["kdf"], m=8, t=1, p=1, salt=crypto.b64e(os.urandom(16)))  # type: ignore[arg-type]
            _plant_slot(world, forged)
        started = time.monotonic()
        vault, _ = clone(world.folder, world.root / "d", password=PASSWORD)
        vault.lock()
        with pytest.raises(WrongPasswordError, match="forged"):
            clone(world.folder, world.root / "e", password="not the password")
        assert time.monotonic() - started < 30


# --- JSON nested a thousand deep -------------------------------------------------------------


def test_deeply_nested_json_is_one_line_everywhere(template: Path) -> None:
    with world_copy(template) as world:
        with pytest.raises(NotAVaultError, match="nested too deeply"):
            keys.Slot.from_json(NESTED, "slot")
        _plant_slot(world, {})  # an empty object: refused, not a crash
        (world.folder / "keys" / world.device("a") / ("f" * 32 + ".slot")).write_bytes(NESTED)
        name = layout.chain_file_name(50, "d" * 32, "seg")
        (world.log("a") / name).write_bytes(b"VAULTSYNC1\n" + b"[" * 1000 + b"\n")
        run = vault_cli(world, "b", "sync")
        assert run.code == 0, run.stderr
        assert_one_line_problems(run)
        run = vault_cli(world, "b", "clone", str(world.folder), "--vault", str(world.root / "d"))
        assert run.code == 0, run.stderr
        header = world.folder / layout.HEADER
        header.write_bytes(NESTED)
        for args in (["sync"], ["clone", str(world.folder), "--vault", str(world.root / "e")]):
            run = vault_cli(world, "b", *args)
            assert run.code == 1 and "nested too deeply" in run.stderr, run.stderr
            assert_one_line_problems(run)


# --- the sync state's memory of judged and refused files is pruned ---------------------------


def test_judged_and_refused_files_are_forgotten_once_gone(template: Path) -> None:
    from vault.sync.state import JUDGED, REJECTED

    with world_copy(template) as world:
        odd = world.log("a") / "stray (conflicted copy).seg"
        odd.write_bytes(b"not ours")
        bad = world.log("a") / layout.chain_file_name(60, "c" * 32, "seg")
        bad.write_bytes(b"damaged")
        b = Vault.unlock(world.vault("b"), password=PASSWORD)
        try:
            SyncEngine(b).sync()
            a_id = world.device("a")
            assert f"{a_id}/{odd.name}" in json.loads(b.store.meta(JUDGED))
            assert f"{a_id}/{bad.name}" in json.loads(b.store.meta(REJECTED))
            report = SyncEngine(b).sync()
            assert report.files_read == 0  # remembered: not read again
            odd.unlink()
            bad.unlink()
            SyncEngine(b).sync()
            assert f"{a_id}/{odd.name}" not in json.loads(b.store.meta(JUDGED) or "{}")
            assert json.loads(b.store.meta(REJECTED) or "{}") == {}
        finally:
            b.lock()


def test_header_that_is_a_symlink_is_refused(template: Path) -> None:
    with world_copy(template) as world:
        header = world.folder / layout.HEADER
        (world.decoy / "fake.json").write_bytes(header.read_bytes())
        header.unlink()
        header.symlink_to(world.decoy / "fake.json")
        b = Vault.unlock(world.vault("b"), password=PASSWORD)
        try:
            with pytest.raises(RemoteError, match="not a vault sync header"):
                SyncEngine(b).sync()
        finally:
            b.lock()


# --- the fuzzer ------------------------------------------------------------------------------

PLACES = (
    "header",
    "log",
    "keys",
    "own-log",
    "own-keys",
    "peer-log",
    "peer-keys",
    "own-log-file",
    "own-slot",
    "peer-log-file",
    "peer-slot",
    "new-in-own-log",
    "new-in-peer-log",
    "new-device",
)
KINDS = (
    "symlink-abs",
    "symlink-rel",
    "symlink-vault",
    "dev-zero",
    "dev-urandom",
    "hardlink",
    "fifo",
    "folder",
    "sparse",
    "truncated",
    "nested",
    "wrong-types",
    "unreadable",
)


def _place(world: World, place: str) -> Path:
    f = world.folder
    first = lambda p: sorted(p.iterdir())[0]  # noqa: E731
    return {
        "header": lambda: f / layout.HEADER,
        "log": lambda: f / "log",
        "keys": lambda: f / "keys",
        "own-log": lambda: world.log("b"),
        "own-keys": lambda: world.keys("b"),
        "peer-log": lambda: world.log("a"),
        "peer-keys": lambda: world.keys("a"),
        "own-log-file": lambda: first(world.log("b")),
        "own-slot": lambda: first(world.keys("b")),
        "peer-log-file": lambda: first(world.log("a")),
        "peer-slot": lambda: first(world.keys("a")),
        "new-in-own-log": lambda: world.log("b") / layout.chain_file_name(77, "a" * 32, "seg"),
        "new-in-peer-log": lambda: world.log("a") / layout.chain_file_name(77, "b" * 32, "seg"),
        "new-device": lambda: f / "log" / ("9" * 32),
    }[place]()


def _content(path: Path, kind: str) -> bytes:
    """Hostile bytes shaped for what lives at `path`."""
    name = path.name
    if kind == "nested":
        return b"VAULTSYNC1\n" + b"[" * 1000 + b"\n" if name.endswith(".seg") else NESTED
    if name.endswith(".seg") or name.endswith(".snap"):
        return b'VAULTSYNC1\n{"dev":5,"seq":"x","kind":[],"prev":{},"nonce":1}\n'
    if name.endswith(".slot"):
        return b'{"v":1,"type":"password","kdf":[],"slot":7,"mk_id":null,"alg":1}'
    return b'{"format":"vault-sync","v":1,"vault_id":5,"mk_id":[]}'


def plant(world: World, place: str, kind: str) -> None:
    try:
        path = _place(world, place)
    except (NotADirectoryError, FileNotFoundError, PermissionError, IndexError):
        return  # an earlier plant made a parent something else than a folder: nothing is here
    inside = [p for p in path.parents if world.folder in p.parents]
    if any(p.is_symlink() for p in inside):
        return  # an earlier plant made a parent a symlink: planting here would reach outside
    if any(p.exists() and not p.is_dir() for p in inside):
        return  # an earlier plant made a parent a file, a FIFO or a device: no place here
    is_dir = path.is_dir() and not path.is_symlink()
    if kind == "unreadable":
        if path.exists() or path.is_symlink():
            os.chmod(path, 0, follow_symlinks=False) if not path.is_symlink() else None
        return
    if kind in ("truncated", "nested", "wrong-types") and is_dir:
        path = path / layout.chain_file_name(88, "c" * 32, "seg")
        is_dir = False
    if kind == "sparse" and is_dir:
        path = path / layout.chain_file_name(89, "d" * 32, "seg")
        is_dir = False
    old = path.read_bytes() if path.is_file() and not path.is_symlink() else b""
    if is_dir:
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    decoy_target = world.decoy if is_dir else world.decoy / "taxes.txt"
    if kind == "symlink-abs":
        path.symlink_to(decoy_target)
    elif kind == "symlink-rel":
        path.symlink_to(os.path.relpath(decoy_target, path.parent))
    elif kind == "symlink-vault":
        path.symlink_to(world.vault("b") if is_dir else world.vault("b") / "store.sqlite")
    elif kind == "dev-zero":
        path.symlink_to("/dev/zero")
    elif kind == "dev-urandom":
        path.symlink_to("/dev/urandom")
    elif kind == "hardlink":
        os.link(world.decoy / "taxes.txt", path)
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
        (path / "inside.seg").write_bytes(b"x")
    elif kind == "sparse":
        with open(path, "wb") as fh:
            fh.truncate(600 * 1024 * 1024)
    elif kind == "truncated":
        path.write_bytes(old[: len(old) // 2] if old else b'{"format": "vault-sy')
    else:
        path.write_bytes(_content(path, kind))


@settings(max_examples=12)
@example(plants=[("own-keys", "symlink-rel"), ("own-slot", "fifo")])
@example(plants=[("peer-log", "unreadable"), ("own-log-file", "dev-zero")])
@given(
    plants=st.lists(st.tuples(st.sampled_from(PLACES), st.sampled_from(KINDS)), max_size=3),
)
def test_fuzz_a_hostile_folder(
    template: Path, user: pwd.struct_passwd | None, plants: list[tuple[str, str]]
) -> None:
    with world_copy(template, user) as world:
        b = Vault.unlock(world.vault("b"), password=PASSWORD)
        b.create_note("Unsent on b", "local")
        b.lock()
        saved = {name: notes(world, name) for name in ("a", "b")}
        for place, kind in plants:
            with contextlib.suppress(FileNotFoundError, IndexError):
                plant(world, place, kind)
        before = guarded(world)
        for name in ("b", "a"):
            run = vault_cli(world, name, "sync", owner=user)
            assert_one_line_problems(run)
        assert guarded(world) == before, "a file outside the sync folder changed"
        for name in ("a", "b"):
            assert saved[name] <= notes(world, name), "a saved note was lost"


def test_a_device_folder_of_too_many_entries_costs_only_that_device(
    tmp_path: Path, make_vault
) -> None:
    """A peer's log folder stuffed with entries is set aside (pending, one line), and the sync
    still pulls from the healthy device; names with a trailing newline are no device."""
    from vault.sync import SyncEngine, clone, set_remote
    from vault.sync.folder_io import MAX_ENTRIES

    folder = tmp_path / "shared"
    a, _ = make_vault(tmp_path / "a")
    set_remote(a.store, folder)
    SyncEngine(a).sync()
    b, _ = clone(folder, tmp_path / "b", password=PASSWORD)
    try:
        note = b.create_note("From b", "x")
        SyncEngine(b).sync()
        junk = folder / "log" / ("f" * 32)
        junk.mkdir()
        for i in range(MAX_ENTRIES + 1):
            (junk / f"x{i}").touch()
        (folder / "log" / (b.store.device_id + "\n")).mkdir()
        report = SyncEngine(a).sync()
        assert a.note(note.id).title == "From b"
        assert any("more than" in str(p) for p in report.pending), report.pending
        assert report.devices == 1  # b only: not the stuffed folder, not the newline name
    finally:
        b.lock()
