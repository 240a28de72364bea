"""The unlock screen: a wrong password is said plainly, the right one opens the notes, and a
vault that needs a keyfile asks for it."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Input, Static

from tests.conftest import CLI, PASSWORD
from tests.tui.conftest import settle, type_into, unlock
from vault.notes.vault import Vault, inspect_vault
from vault.sealing.crypto import TEST_KDF
from vault.session import agent_client
from vault.tui.screens.main import MainScreen
from vault.tui.screens.unlock import UnlockScreen


async def test_wrong_password_then_right_one(sample_vault: Path, app_for) -> None:
    app = app_for(sample_vault)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, UnlockScreen)
        assert "~/vault" in str(screen.query_one(".card-path", Static).render())
        await type_into(pilot, "#password", "not the password")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, UnlockScreen)
        message = str(screen.query_one("#unlock-message", Static).render())
        assert message == "Wrong password. Try again."
        assert screen.query_one("#password", Input).value == ""  # nothing kept in the field
        assert app.session is None

        main = await unlock(pilot)
        titles = [n.title for n in main.notes_list.notes]
        assert titles[0] == "Welcome to your vault"  # pinned first
        assert "Old draft" not in titles  # in the trash
        assert len(titles) == 6


async def test_keyfile_vault_asks_for_the_keyfile(home_vault: Path, tmp_path: Path, app_for):
    keyfile = tmp_path / "key.bin"
    keyfile.write_bytes(b"k" * 64)
    vault, _ = Vault.create(
        home_vault, PASSWORD, keyfile=keyfile, kdf=TEST_KDF, allow_weak_kdf=True
    )
    vault.create_note("Behind a keyfile", "body")
    vault.lock()
    app = app_for(home_vault)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, UnlockScreen)
        assert screen.query_one("#keyfile").display  # shown: this vault needs one
        await type_into(pilot, "#password", PASSWORD)
        await pilot.press("enter")
        await settle(pilot)
        assert "keyfile" in str(screen.query_one("#unlock-message", Static).render())
        screen.query_one("#keyfile", Input).value = str(keyfile)
        screen.query_one("#password", Input).focus()
        main = await unlock(pilot)
        assert [n.title for n in main.notes_list.notes] == ["Behind a keyfile"]


async def test_keyfile_given_on_the_command_line_is_filled_in(
    home_vault: Path, tmp_path: Path, app_for
) -> None:
    keyfile = tmp_path / "key.bin"
    keyfile.write_bytes(b"q" * 64)
    Vault.create(home_vault, PASSWORD, keyfile=keyfile, kdf=TEST_KDF, allow_weak_kdf=True)[0].lock()
    app = app_for(home_vault, keyfile=keyfile)
    async with app.run_test(size=(100, 30)) as pilot:
        main = await unlock(pilot)
        assert isinstance(main, MainScreen)


async def test_a_folder_that_is_not_a_vault_is_explained(home_vault: Path, app_for) -> None:
    home_vault.mkdir()
    (home_vault / "shopping.txt").write_text("not a vault")
    app = app_for(home_vault)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        text = " ".join(str(s.render()) for s in app.screen.query(Static))
        assert "cannot be opened" in text
        assert (home_vault / "shopping.txt").read_text() == "not a vault"


def _start_session(path: Path) -> None:
    key = Vault.unwrap_master_key(path, password=PASSWORD)
    agent_client.start(path, inspect_vault(path).vault_id, key, 600, entry="vault.agent_main")


def _session_running(path: Path) -> bool:
    return agent_client.status(path, inspect_vault(path).vault_id) is not None


async def test_an_unlocked_session_opens_the_app_without_a_password(
    sample_vault: Path, app_for
) -> None:
    """After `vault unlock`, the app opens straight to the notes; auto-lock locks the app and
    then asks for the password (the session stays for the CLI); the lock key ends both."""
    _start_session(sample_vault)
    app = app_for(sample_vault)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        main = app.screen
        assert isinstance(main, MainScreen)
        assert len(main.notes_list.notes) == 6

        app.check_autolock(now=app._last_activity + 11 * 60)
        await settle(pilot)
        assert isinstance(app.screen, UnlockScreen)  # not reopened by the session
        assert app.session is None
        assert _session_running(sample_vault)

        await unlock(pilot)
        await pilot.press("ctrl+l")
        await settle(pilot)
        assert isinstance(app.screen, UnlockScreen)
        assert not _session_running(sample_vault)


async def test_without_a_session_the_app_asks_as_ever(sample_vault: Path, app_for) -> None:
    """The look for a session is invisible when there is none: the password box has the focus,
    so typing and Enter unlock as they always did."""
    app = app_for(sample_vault)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, UnlockScreen)
        password = screen.query_one("#password", Input)
        assert not password.disabled
        assert app.focused is password
        assert str(screen.query_one("#unlock-message", Static).render()) == ""
        await pilot.press(*PASSWORD, "enter")  # keys, as a person types them: no focusing
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)


async def test_the_palette_unlocks_and_locks_the_command_line(
    sample_vault: Path, app_for, tmp_path: Path
) -> None:
    """The app has what `vault unlock` / `vault lock` do: it hands its key to the agent, and
    the real `vault` command then runs with no password."""
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        await unlock(pilot)
        for command, running in (
            ("unlock for the command line", True),
            ("lock the command line", False),
        ):
            await pilot.press("ctrl+p")
            await settle(pilot)
            await pilot.press(*command)
            await settle(pilot)
            await pilot.press("enter")
            await settle(pilot)
            assert _session_running(sample_vault) is running
            if running:
                cli = CLI(sample_vault, tmp_path / "config.toml")
                cli.password = None
                assert "Garden ideas" in cli("ls", check=True).stdout


def test_the_password_and_enter_typed_as_vault_starts_unlock_it(sample_vault: Path) -> None:
    """`vault`, then at once the password and Enter, in a real terminal (a pty): keys typed
    before the app puts the terminal in raw mode are turned by the terminal's line discipline,
    and Enter arrives as a newline (ctrl+j). It was lost: the password sat in its field until
    Enter was pressed again (found by a person's test in tmux)."""
    import fcntl
    import os
    import pty
    import select
    import struct
    import subprocess
    import termios
    import time

    from tests.conftest import vault_command

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 800, 480))
    os.write(master, f"{PASSWORD}\r".encode())  # typed ahead: the pty's ICRNL makes it "\n"
    env = {k: v for k, v in os.environ.items() if k != "VAULT_PASSWORD"}
    env.update(TERM="xterm-256color", VAULT_DIR=str(sample_vault))
    child = subprocess.Popen(
        [*vault_command(), "--vault", str(sample_vault)],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        start_new_session=True,
    )
    os.close(slave)
    seen = b""
    try:
        deadline = time.monotonic() + 60
        while b"Welcome to your vault" not in seen and time.monotonic() < deadline:
            if select.select([master], [], [], 0.1)[0]:
                try:
                    seen += os.read(master, 65536)
                except OSError:
                    break
            if child.poll() is not None:
                break
        unlocked = b"Welcome to your vault" in seen  # the newest note's title, in the list
    finally:
        if child.poll() is None:
            child.terminate()
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        os.close(master)
    assert unlocked, seen[-2000:]


async def test_a_keyfile_vault_takes_the_password_then_the_keyfile(
    home_vault: Path, tmp_path: Path, app_for
) -> None:
    """Enter after the password goes on to the keyfile field, the password kept (typed again
    into the keyfile field, as after a refusal, it showed in clear)."""
    keyfile = tmp_path / "key.bin"
    keyfile.write_bytes(b"k" * 64)
    Vault.create(home_vault, PASSWORD, keyfile=keyfile, kdf=TEST_KDF, allow_weak_kdf=True)[0].lock()
    app = app_for(home_vault)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        screen = app.screen
        await type_into(pilot, "#password", PASSWORD)
        await pilot.press("enter")
        await settle(pilot)
        assert screen.focused is screen.query_one("#keyfile")
        assert screen.query_one("#password", Input).value == PASSWORD
        assert "keyfile's path" in str(screen.query_one("#unlock-message", Static).render())
        await type_into(pilot, "#keyfile", str(keyfile))
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)


def test_the_terminal_stops_echoing_as_the_app_starts_and_echoes_again_after() -> None:
    """A password typed as `vault` starts was echoed until the app put the terminal in raw
    mode (half a second on), and stayed in the scrollback. The terminal stops echoing as soon
    as `vault` (the app) runs, what was typed stays waiting for the app, and echo comes back
    as it was once the app is done."""
    import os
    import pty
    import subprocess
    import sys

    master, slave = pty.openpty()
    program = (
        "import os, termios, vault.__main__ as m\n"
        "assert m._opens_the_app([]) and m._opens_the_app(['--vault', 'x'])\n"
        "assert not m._opens_the_app(['ls']) and not m._opens_the_app(['--vault'])\n"
        "before = termios.tcgetattr(0)[3] & termios.ECHO\n"
        "restore = m._no_echo()\n"
        "during = termios.tcgetattr(0)[3] & termios.ECHO\n"
        "waiting = os.read(0, 64) if during == 0 else b''\n"
        "restore()\n"
        "after = termios.tcgetattr(0)[3] & termios.ECHO\n"
        "said = repr((bool(before), bool(during), waiting, bool(after)))\n"
        "os.write(int(os.environ['OUT']), said.encode())\n"
    )
    os.write(master, b"typed\n")  # (already waiting: a line, so a cooked read returns it)
    read, write = os.pipe()
    child = subprocess.Popen(
        [sys.executable, "-c", program],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        pass_fds=(write,),
        env={**os.environ, "OUT": str(write)},
        start_new_session=True,
    )
    os.close(slave)
    os.close(write)
    import select

    shown = b""
    try:
        child.wait(timeout=60)
        said = os.read(read, 4096).decode()
        while select.select([master], [], [], 0.1)[0]:
            try:
                shown += os.read(master, 4096)
            except OSError:
                break
    finally:
        os.close(read)
        os.close(master)
    assert child.returncode == 0, shown[-2000:]
    assert eval(said) == (True, False, b"typed\n", True)
