"""Run real Syncthing daemons on loopback for end-to-end sync tests.

Usage::

    from tests.syncthing_harness import SyncthingCluster, require_syncthing

    @pytest.mark.syncthing
    def test_something(tmp_path):
        require_syncthing()  # skip (or fail when VAULT_REQUIRE_SYNCTHING=1) if missing
        a, b = tmp_path / "a", tmp_path / "b"
        with SyncthingCluster(tmp_path / "st", [a, b]) as cluster:
            (a / "note.txt").write_bytes(b"hello")
            cluster.wait_in_sync()
            assert (b / "note.txt").read_bytes() == b"hello"

Each folder path gets its own daemon (own ``--home`` under ``root``); all daemons share
one Syncthing folder id and know each other by device id and a fixed
``tcp://127.0.0.1:PORT`` address.  Nothing listens on anything but 127.0.0.1: discovery,
relays, NAT traversal, usage reporting, crash reporting and upgrades are all off.

Syncthing keeps a ``.stfolder`` marker directory in every synced folder; the harness
creates it up front.  Conflict copies are enabled (``maxConflicts`` = 10) — a folder
written without that element gets 0, i.e. *no* conflict copies.

Besides ``.stfolder``, a synced folder may hold ``.syncthing.NAME.tmp`` files of abandoned
pulls for up to 24 h, even once in sync; compare folders with :func:`synced_files`, which
skips them.  Pausing a daemon with :meth:`SyncthingCluster.pause` while editing on both
sides, then :meth:`~SyncthingCluster.resume`, is the deterministic way to make
conflicting offline edits.

Daemon output goes to ``<root>/st<i>/syncthing.log`` (see :meth:`SyncthingCluster.log`);
errors raised by the harness include the tail of the relevant logs.

Syncthing 1.19 behaviour the harness works around (see ``_set_link``):

* two devices dialing each other at the same moment deadlock in the Hello exchange for
  20 s, so only the higher-numbered device of each pair dials;
* a rejected or recent dial delays the next one by >= 5 s, so links are resumed
  acceptor-first and the dialer is handed a fresh address to make it dial at once;
* without ``STMONITORED`` a monitor process forks the real daemon even with
  ``--no-restart``, and killing the monitor could orphan it.
"""

from __future__ import annotations

import contextlib
import copy
import ctypes
import functools
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

__all__ = [
    "REQUIRE_ENV",
    "SyncthingCluster",
    "SyncthingError",
    "is_syncthing_internal",
    "require_syncthing",
    "synced_files",
    "syncthing_available",
    "syncthing_binary",
]

#: When this environment variable is "1", a missing syncthing binary fails the test
#: instead of skipping it (CI sets it).
REQUIRE_ENV = "VAULT_REQUIRE_SYNCTHING"

_HOST = "127.0.0.1"
_HTTP_TIMEOUT = 30.0  # per REST request; scans are synchronous and can be slow on busy CI


class SyncthingError(RuntimeError):
    """A daemon failed to start, died, or its REST API returned an error."""


def syncthing_binary() -> str | None:
    """Path of the ``syncthing`` executable (``$SYNCTHING_BIN`` overrides), or None."""
    override = os.environ.get("SYNCTHING_BIN")
    if override:
        return override if os.access(override, os.X_OK) else None
    return shutil.which("syncthing")


def syncthing_available() -> bool:
    """True when a runnable ``syncthing`` binary is present."""
    binary = syncthing_binary()
    return binary is not None and _binary_runs(binary)


@functools.lru_cache(maxsize=8)
def _binary_runs(binary: str) -> bool:
    try:
        proc = subprocess.run(
            [binary, "--version"], capture_output=True, timeout=30, check=False, text=True
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0 and "syncthing" in proc.stdout.lower()


def require_syncthing() -> None:
    """Skip the calling test when Syncthing is missing, or fail if $VAULT_REQUIRE_SYNCTHING=1."""
    if syncthing_available():
        return
    reason = "no runnable syncthing binary on PATH or in $SYNCTHING_BIN (apt-get install syncthing)"
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{reason}, but {REQUIRE_ENV}=1 requires it", pytrace=False)
    pytest.skip(f"{reason}; set {REQUIRE_ENV}=1 to make this a failure")


def is_syncthing_internal(relpath: str | Path) -> bool:
    """True for paths Syncthing keeps for itself inside a synced folder (never synced).

    That is the ``.stfolder`` marker, ``.stversions``, ``.stignore`` and the temporary
    files of in-progress or abandoned pulls (``.syncthing.NAME.tmp``, or
    ``~syncthing~NAME.tmp`` on Windows).  Syncthing keeps abandoned temporaries for
    ``keepTemporariesH`` (24 h) to resume the download, so they can outlive a sync.
    """
    parts = Path(relpath).parts
    if not parts:
        return False
    if parts[0] in (".stfolder", ".stversions", ".stignore"):
        return True
    name = parts[-1]
    return name.endswith(".tmp") and name.startswith((".syncthing.", "~syncthing~"))


def synced_files(folder: Path) -> dict[str, bytes]:
    """``{relative posix path: content}`` of the regular files in ``folder`` that Syncthing
    syncs, i.e. skipping :func:`is_syncthing_internal` paths."""
    out: dict[str, bytes] = {}
    for path in sorted(Path(folder).rglob("*")):
        rel = path.relative_to(folder)
        if path.is_file() and not is_syncthing_internal(rel):
            out[rel.as_posix()] = path.read_bytes()
    return out


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((_HOST, 0))
        return sock.getsockname()[1]


def _die_with_parent() -> None:  # pragma: no cover - runs in the forked child
    """Linux safety net: SIGTERM the daemon if the process that started it dies.

    Only a backstop for a killed test runner (e.g. an xdist worker); normal cleanup is
    :meth:`SyncthingCluster.stop`.  Note PR_SET_PDEATHSIG tracks the *thread* that forked,
    so start clusters from a thread that outlives them (the test's thread does).
    """
    if sys.platform != "linux":
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):
        pass


def _set_child(parent: ET.Element, tag: str, value: str) -> None:
    child = parent.find(tag)
    if child is None:
        child = ET.SubElement(parent, tag)
    child.text = value


@dataclass
class _Node:
    index: int
    home: Path
    folder: Path
    gui_port: int
    listen_port: int
    api_key: str
    device_id: str = ""
    proc: subprocess.Popen[bytes] | None = None
    log_file: Any = field(default=None, repr=False)

    @property
    def log_path(self) -> Path:
        return self.home / "syncthing.log"


class SyncthingCluster:
    """A set of Syncthing daemons on 127.0.0.1 sharing one folder (a context manager).

    ``root`` holds the daemons' homes (``root/st0``, ``root/st1``, ...); ``folders[i]`` is
    the directory synced by daemon ``i`` (created if missing).  Entering starts every daemon,
    waits for its REST API and for all devices to be connected; leaving terminates them and
    waits for them to exit (killing stragglers), also when the body raised.
    """

    def __init__(
        self,
        root: Path,
        folders: list[Path],
        folder_id: str = "vault-remote",
        *,
        rescan_interval_s: int = 10,
        fs_watcher_delay_s: int = 1,
        max_conflicts: int = 10,
        startup_timeout: float = 60.0,
    ) -> None:
        if len(folders) < 1:
            raise ValueError("need at least one folder")
        self.root = Path(root)
        self.folder_id = folder_id
        self.rescan_interval_s = rescan_interval_s
        self.fs_watcher_delay_s = fs_watcher_delay_s
        self.max_conflicts = max_conflicts
        self.startup_timeout = startup_timeout
        self._binary = syncthing_binary()
        self._paused: set[int] = set()
        self._link_generation = 0
        self._nodes: list[_Node] = []
        for i, folder in enumerate(folders):
            self._nodes.append(
                _Node(
                    index=i,
                    home=self.root / f"st{i}",
                    folder=Path(folder).resolve(),
                    gui_port=0,
                    listen_port=0,
                    api_key=secrets.token_hex(16),
                )
            )

    # ------------------------------------------------------------------ public API

    @property
    def folders(self) -> list[Path]:
        return [n.folder for n in self._nodes]

    @property
    def device_ids(self) -> list[str]:
        return [n.device_id for n in self._nodes]

    @property
    def pids(self) -> list[int]:
        """Process ids of the daemons that are currently running."""
        return [n.proc.pid for n in self._nodes if n.proc is not None and n.proc.poll() is None]

    def __len__(self) -> int:
        return len(self._nodes)

    def __enter__(self) -> SyncthingCluster:
        if self._binary is None or not syncthing_available():
            require_syncthing()  # skips the test, or fails it under VAULT_REQUIRE_SYNCTHING=1
            raise SyncthingError("syncthing binary not found")  # pragma: no cover
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def rest(
        self,
        i: int,
        path: str,
        method: str = "GET",
        params: dict[str, str] | None = None,
        body: Any = None,
        timeout: float = _HTTP_TIMEOUT,
    ) -> Any:
        """Call daemon ``i``'s REST API; returns decoded JSON (None for an empty body).

        HTTP errors raise SyncthingError; an unreachable daemon raises OSError (URLError).
        """
        node = self._nodes[i]
        url = f"http://{_HOST}:{node.gui_port}{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(url, data=data, method=method)
        req.add_header("X-API-Key", node.api_key)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace").strip()
            raise SyncthingError(
                f"daemon {i}: {method} {path} -> HTTP {exc.code}: {detail}"
            ) from exc
        if not raw.strip():
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return raw.decode(errors="replace")

    def scan(self, i: int | None = None) -> None:
        """Rescan the folder now on daemon ``i`` (or on every daemon); returns when done."""
        for node in self._select(i):
            self.rest(node.index, "/rest/db/scan", "POST", {"folder": self.folder_id})

    def pause(self, i: int, timeout: float = 30.0) -> None:
        """Take daemon ``i`` offline and wait until no peer is connected to it.

        Every link to ``i`` is paused on both ends (the daemon keeps running and
        scanning), so edits made now on either side become concurrent versions that
        meet on :meth:`resume`.  Pausing an already paused daemon is a no-op.
        """
        if i in self._paused:
            return
        for peer in self._online():
            if peer.index != i:
                self._set_link(i, peer.index, up=False)
        self._paused.add(i)
        me = self._nodes[i]

        def disconnected() -> bool:
            mine = self._connections(i)
            return not any(
                mine.get(n.device_id, {}).get("connected")
                or self._connections(n.index).get(me.device_id, {}).get("connected")
                for n in self._nodes
                if n is not me
            )

        self._poll(disconnected, timeout, f"daemon {i} to disconnect after pause")

    def resume(self, i: int, timeout: float = 60.0) -> None:
        """Bring daemon ``i`` back and wait until it is connected to every online peer."""
        if i not in self._paused:
            return
        self._paused.discard(i)
        for peer in self._online():
            if peer.index != i:
                self._set_link(i, peer.index, up=True)
        self._wait_connected(timeout)

    def wait_in_sync(self, timeout: float = 60.0, *, rescan: bool = True) -> None:
        """Block until all online daemons agree on the folder and have nothing left to do.

        Paused daemons are left out (they cannot sync).  With ``rescan`` (default) every
        daemon first scans the folder, so writes the filesystem watcher has not reported
        yet are included.  "In sync" means, for
        every online daemon: folder state ``idle``, nothing needed, no pull errors, peers
        connected, ``/rest/db/completion`` 100% with nothing needed for every online peer,
        and identical global file/byte counts everywhere — holding on three consecutive
        polls with unchanged sequence numbers.  Raises TimeoutError describing what was
        still outstanding.
        """
        if rescan:
            self.scan()
        deadline = time.monotonic() + timeout
        streak = 0
        last_key: Any = None
        problems: list[str] = []
        while True:
            self._check_alive()
            problems, key = self._sync_problems()
            if not problems and key == last_key:
                streak += 1
            elif not problems:
                streak = 1
            else:
                streak = 0
            last_key = key if not problems else None
            if streak >= 3:
                return
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"folder {self.folder_id!r} not in sync after {timeout:.0f}s: "
                    + "; ".join(problems or ["state still changing"])
                    + self._log_tails()
                )
            time.sleep(0.3)

    def log(self, i: int) -> str:
        """Everything daemon ``i`` has written to stdout/stderr so far."""
        try:
            return self._nodes[i].log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stop(self) -> None:
        """Terminate every daemon and wait for it (kill after 15 s). Idempotent."""
        for node in self._nodes:
            if node.proc is not None and node.proc.poll() is None:
                with contextlib.suppress(OSError):
                    node.proc.terminate()
        for node in self._nodes:
            if node.proc is not None:
                try:
                    node.proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    node.proc.kill()
                    node.proc.wait(timeout=15)
                node.proc = None
            if node.log_file is not None:
                node.log_file.close()
                node.log_file = None

    # ------------------------------------------------------------------ internals

    def _select(self, i: int | None) -> list[_Node]:
        return list(self._nodes) if i is None else [self._nodes[i]]

    def _online(self) -> list[_Node]:
        return [n for n in self._nodes if n.index not in self._paused]

    def _start(self) -> None:
        assert self._binary is not None
        self.root.mkdir(parents=True, exist_ok=True)
        used: set[int] = set()
        for node in self._nodes:
            for attr in ("gui_port", "listen_port"):
                port = _free_port()
                while port in used:
                    port = _free_port()
                used.add(port)
                setattr(node, attr, port)
            node.home.mkdir(parents=True, exist_ok=True)
            self._run([self._binary, "generate", f"--home={node.home}", "--no-default-folder"])
            out = self._run([self._binary, "serve", f"--home={node.home}", "--device-id"])
            node.device_id = out.strip().splitlines()[-1].strip()
            node.folder.mkdir(parents=True, exist_ok=True)
            (node.folder / ".stfolder").mkdir(exist_ok=True)
        for node in self._nodes:
            self._write_config(node)
        env = dict(os.environ)
        env.update(STNOUPGRADE="1", STNORESTART="1", STNODEFAULTFOLDER="1")
        # Run the daemon in-process: without this 1.19 forks a monitor process that
        # survives as a parent/child pair even with --no-restart.
        env["STMONITORED"] = "1"
        # Naming the SHA-256 implementation skips a ~1 s CPU benchmark at start-up.
        env.setdefault("STHASHING", "standard")
        for node in self._nodes:
            node.log_file = open(node.log_path, "ab")  # noqa: SIM115 - closed in stop()
            node.proc = subprocess.Popen(
                [
                    self._binary,
                    "serve",
                    f"--home={node.home}",
                    "--no-browser",
                    "--no-restart",
                    "--no-upgrade",
                    "--logflags=7",
                ],
                stdin=subprocess.DEVNULL,
                stdout=node.log_file,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=node.home,
                preexec_fn=_die_with_parent,
            )
        for node in self._nodes:
            self._wait_api(node)
        for node in self._nodes:
            for peer in self._nodes[node.index + 1 :]:
                self._set_link(node.index, peer.index, up=True)
        self._wait_connected(self.startup_timeout)

    def _run(self, argv: list[str]) -> str:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
        if proc.returncode != 0:
            raise SyncthingError(
                f"{' '.join(argv)} failed ({proc.returncode}): {proc.stdout}{proc.stderr}"
            )
        return proc.stdout

    def _write_config(self, node: _Node) -> None:
        cfg_path = node.home / "config.xml"
        tree = ET.parse(cfg_path)
        cfg = tree.getroot()

        gui = cfg.find("gui")
        assert gui is not None
        gui.set("enabled", "true")
        gui.set("tls", "false")
        _set_child(gui, "address", f"{_HOST}:{node.gui_port}")
        _set_child(gui, "apikey", node.api_key)

        opts = cfg.find("options")
        assert opts is not None
        for tag, value in {
            "listenAddress": f"tcp://{_HOST}:{node.listen_port}",
            "globalAnnounceServer": "",
            "globalAnnounceEnabled": "false",
            "localAnnounceEnabled": "false",
            "relaysEnabled": "false",
            "natEnabled": "false",
            "startBrowser": "false",
            "urAccepted": "-1",
            "urSeen": "3",
            "autoUpgradeIntervalH": "0",
            "crashReportingEnabled": "false",
            "announceLANAddresses": "false",
            "reconnectionIntervalS": "1",  # redial as often as the 5 s connection loop allows
            "setLowPriority": "false",
            "restartOnWakeup": "false",
            "progressUpdateIntervalS": "-1",
        }.items():
            _set_child(opts, tag, value)

        # Top-level device entries: ourselves (as generated) plus every peer.
        template = cfg.find(f"device[@id='{node.device_id}']")
        assert template is not None, "generated config lacks own device"
        for peer in self._nodes:
            if peer is node:
                template.set("name", f"st{node.index}")
                continue
            dev = copy.deepcopy(template)
            dev.set("id", peer.device_id)
            dev.set("name", f"st{peer.index}")
            for addr in dev.findall("address"):
                dev.remove(addr)
            address = ET.Element("address")
            # Only the higher-numbered device of each pair dials; the other just accepts
            # ("dynamic" with discovery off = no address).  Syncthing 1.19 exchanges Hello
            # messages one connection at a time, so two devices dialing each other at the
            # same moment deadlock until the 20 s Hello timeout.
            if peer.index < node.index:
                address.text = f"tcp://{_HOST}:{peer.listen_port}"
            else:
                address.text = "dynamic"
            dev.insert(0, address)
            # Links start paused and are resumed once every daemon is up (see _start).
            _set_child(dev, "paused", "true")
            cfg.insert(list(cfg).index(template) + 1, dev)

        # The folder: start from <defaults><folder> so every option has a sane value.
        default_folder = cfg.find("defaults/folder")
        assert default_folder is not None, "generated config lacks defaults/folder"
        folder = copy.deepcopy(default_folder)
        for dev in folder.findall("device"):
            folder.remove(dev)
        folder.attrib.update(
            {
                "id": self.folder_id,
                "label": self.folder_id,
                "path": str(node.folder),
                "type": "sendreceive",
                "rescanIntervalS": str(self.rescan_interval_s),
                "fsWatcherEnabled": "true",
                "fsWatcherDelayS": str(self.fs_watcher_delay_s),
                "ignorePerms": "false",
                "autoNormalize": "true",
            }
        )
        for pos, peer in enumerate(self._nodes):
            dev = ET.Element("device", {"id": peer.device_id, "introducedBy": ""})
            ET.SubElement(dev, "encryptionPassword").text = ""
            folder.insert(pos, dev)
        # maxConflicts absent => 0 => conflicting edits silently lose; set it explicitly.
        _set_child(folder, "maxConflicts", str(self.max_conflicts))
        # Retry failed pulls after 1 s instead of the default 60 s.
        _set_child(folder, "pullerPauseS", "1")
        _set_child(folder, "markerName", ".stfolder")
        _set_child(folder, "paused", "false")
        for stale in cfg.findall("folder"):
            cfg.remove(stale)
        cfg.insert(0, folder)
        tree.write(cfg_path, encoding="utf-8", xml_declaration=False)

    def _check_alive(self) -> None:
        for node in self._nodes:
            if node.proc is not None and node.proc.poll() is not None:
                raise SyncthingError(
                    f"syncthing daemon {node.index} exited with {node.proc.returncode}"
                    + self._log_tails([node.index])
                )

    def _wait_api(self, node: _Node) -> None:
        def ready() -> bool:
            try:
                status = self.rest(node.index, "/rest/system/status", timeout=5)
            except (OSError, SyncthingError):
                return False
            if status.get("myID") != node.device_id:
                raise SyncthingError(
                    f"daemon {node.index} on port {node.gui_port} reports device "
                    f"{status.get('myID')}, expected {node.device_id} (port clash?)"
                )
            return True

        self._poll(ready, self.startup_timeout, f"REST API of daemon {node.index}")

    def _connections(self, i: int) -> dict[str, dict[str, Any]]:
        return self.rest(i, "/rest/system/connections").get("connections", {})

    def _set_link(self, a: int, b: int, *, up: bool) -> None:
        """Pause or resume the link between daemons ``a`` and ``b`` on both ends.

        The higher index dials, the lower only accepts.  Order matters: a dial rejected
        by a still-paused peer makes Syncthing 1.19 wait >= 5 s before dialing again, so
        we resume the accepting end first and pause the dialing end first.

        Syncthing also rate-limits redials per address (>= 5 s apart, and only three
        "redial at once" passes per device in two minutes).  Resuming therefore also
        gives the dialer a fresh address for the peer (same host and port, new
        ``?link=N`` suffix): an address change makes Syncthing dial immediately, and a
        never-used address has no redial back-off.
        """
        dialer, acceptor = self._nodes[max(a, b)], self._nodes[min(a, b)]
        if up:
            self.rest(acceptor.index, "/rest/system/resume", "POST", {"device": dialer.device_id})
            self._link_generation += 1
            address = f"tcp://{_HOST}:{acceptor.listen_port}?link={self._link_generation}"
            self.rest(
                dialer.index,
                f"/rest/config/devices/{acceptor.device_id}",
                "PATCH",
                body={"addresses": [address], "paused": False},
            )
        else:
            self.rest(dialer.index, "/rest/system/pause", "POST", {"device": acceptor.device_id})
            self.rest(acceptor.index, "/rest/system/pause", "POST", {"device": dialer.device_id})

    def _wait_connected(self, timeout: float) -> None:
        online = self._online()

        def missing() -> list[str]:
            conns = {n.index: self._connections(n.index) for n in online}
            return [
                f"{n.index}->{p.index}"
                for n in online
                for p in online
                if p is not n and not conns[n.index].get(p.device_id, {}).get("connected")
            ]

        self._poll(lambda: not missing(), timeout, "devices to connect", detail=missing)

    def _poll(
        self,
        predicate: Callable[[], bool],
        timeout: float,
        what: str,
        detail: Callable[[], object] | None = None,
    ) -> None:
        deadline = time.monotonic() + timeout
        while True:
            self._check_alive()
            if predicate():
                return
            if time.monotonic() >= deadline:
                extra = f" (still: {detail()})" if detail is not None else ""
                raise TimeoutError(
                    f"timed out after {timeout:.0f}s waiting for {what}{extra}" + self._log_tails()
                )
            time.sleep(0.1)

    def _sync_problems(self) -> tuple[list[str], Any]:
        problems: list[str] = []
        online = self._online()
        globals_seen: dict[tuple[int, ...], list[int]] = {}
        key = []
        for node in online:
            i = node.index
            st = self.rest(i, "/rest/db/status", params={"folder": self.folder_id})
            need = st.get("needTotalItems")
            if need is None:
                need = sum(
                    st.get(k, 0)
                    for k in ("needFiles", "needDirectories", "needSymlinks", "needDeletes")
                )
            if st.get("state") != "idle":
                problems.append(f"daemon {i} state={st.get('state')!r}")
            if need:
                problems.append(f"daemon {i} needs {need} items")
            if st.get("pullErrors"):
                errors = self.rest(i, "/rest/folder/errors", params={"folder": self.folder_id})
                problems.append(f"daemon {i} pull errors: {errors}")
            if st.get("invalid"):
                problems.append(f"daemon {i} folder invalid: {st['invalid']}")
            glob = tuple(
                st.get(k, 0)
                for k in ("globalFiles", "globalDirectories", "globalDeleted", "globalBytes")
            )
            globals_seen.setdefault(glob, []).append(i)
            key.append((i, st.get("sequence"), st.get("version")))
            conns = self._connections(i)
            for peer in online:
                if peer is node:
                    continue
                if not conns.get(peer.device_id, {}).get("connected"):
                    problems.append(f"daemon {i} not connected to daemon {peer.index}")
                    continue
                comp = self.rest(
                    i,
                    "/rest/db/completion",
                    params={"folder": self.folder_id, "device": peer.device_id},
                )
                remote_state = comp.get("remoteState", "valid")
                if (
                    comp.get("completion") != 100
                    or comp.get("needItems")
                    or comp.get("needDeletes")
                    or remote_state != "valid"
                ):
                    problems.append(
                        f"daemon {i} sees daemon {peer.index} at {comp.get('completion')}% "
                        f"(needItems={comp.get('needItems')}, "
                        f"needDeletes={comp.get('needDeletes')}, remoteState={remote_state})"
                    )
        if len(globals_seen) > 1:
            problems.append(
                "global state differs (files, dirs, deleted, bytes) -> daemons: "
                + ", ".join(f"{g}: {d}" for g, d in globals_seen.items())
            )
        return problems, tuple(key)

    def _log_tails(self, which: list[int] | None = None, lines: int = 25) -> str:
        out = []
        for node in self._select(None) if which is None else [self._nodes[i] for i in which]:
            tail = self.log(node.index).splitlines()[-lines:]
            out.append(f"\n--- syncthing daemon {node.index} log tail ---\n" + "\n".join(tail))
        return "".join(out)
