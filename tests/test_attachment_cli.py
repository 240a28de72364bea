"""`vault attach`, `vault attachments`, `vault attachment get/rm`, run as the real command."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests.conftest import CLI, vault_command


def _new(cli: CLI, title: str) -> str:
    return json.loads(cli("new", title, "--json", input="body", check=True).stdout)["id"]


def test_attach_list_get_rm(cli: CLI, tmp_path: Path) -> None:
    cli.init()
    _new(cli, "Receipts")
    a = tmp_path / "scan.pdf"
    a.write_bytes(b"%PDF-1.7 receipt " * 1000)
    b = tmp_path / "photo.png"
    b.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(3000))
    result = cli("attach", "Receipts", str(a), str(b), check=True)
    assert "Attached scan.pdf (17.0 KB) to 'Receipts'." in result.stdout
    listed = json.loads(cli("attachments", "Receipts", "--json", check=True).stdout)
    assert listed == [
        {"name": "scan.pdf", "size": 17000, "type": "application/pdf", "present": True},
        {"name": "photo.png", "size": 3008, "type": "image/png", "present": True},
    ]
    table = cli("attachments", "Receipts", check=True).stdout
    assert "scan.pdf" in table and "17.0 KB" in table and "image/png" in table

    out = tmp_path / "out"
    out.mkdir()
    cli("attachment", "get", "Receipts", "scan.pdf", "-o", str(out), check=True)
    assert (out / "scan.pdf").read_bytes() == a.read_bytes()
    assert oct((out / "scan.pdf").stat().st_mode & 0o777) == "0o600"
    again = cli("attachment", "get", "Receipts", "scan.pdf", "-o", str(out))
    assert again.returncode == 1 and "exists" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1
    cli("attachment", "get", "Receipts", "scan.pdf", "-o", str(out), "--force", check=True)

    # -o - writes the exact bytes to a pipe
    piped = subprocess.run(
        [*vault_command(), "attachment", "get", "Receipts", "photo.png", "-o", "-"],
        capture_output=True,
        env=cli.env(),
        start_new_session=True,
        timeout=60,
        check=True,
    )
    assert piped.stdout == b.read_bytes()

    cli("attachment", "rm", "Receipts", "scan.pdf", check=True)
    names = [x["name"] for x in json.loads(cli("attachments", "Receipts", "--json").stdout)]
    assert names == ["photo.png"]
    missing = cli("attachment", "get", "Receipts", "scan.pdf", "-o", str(tmp_path / "x"))
    assert missing.returncode == 1 and "no attachment by that name" in missing.stderr
    assert not (tmp_path / "x").exists()


def test_errors_are_one_line(cli: CLI, tmp_path: Path) -> None:
    cli.init()
    _new(cli, "N")
    for args, words in (
        (["attach", "N", str(tmp_path / "nope")], "no file"),
        (["attach", "N", str(tmp_path)], "not a regular file"),
        (["attach", "Nothing-like-this", str(tmp_path)], "no note"),
        (["attach", "N", str(tmp_path), str(tmp_path), "--name", "x"], "--name names one"),
    ):
        result = cli(*args)
        assert result.returncode != 0, args
        assert words in result.stderr.lower() or words in result.stderr, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    result = cli("attach", "N", str(fifo))  # never opened, never waited on
    assert result.returncode == 1 and "not a regular file" in result.stderr


def test_hostile_names_are_shown_safely(cli: CLI, tmp_path: Path) -> None:
    cli.init()
    _new(cli, "N")
    src = tmp_path / "plain.txt"
    src.write_bytes(b"x")
    bad = cli("attach", "N", str(src), "--name", "evil\x1b]52;c;AAAA\x07.txt")
    assert bad.returncode == 1 and "\x1b" not in bad.stderr
    bidi = cli("attach", "N", str(src), "--name", "photo\u202egnp.exe")
    assert bidi.returncode == 1 and "\u202e" not in bidi.stderr
    odd = "ünïcode [bold]x[red] 写真.txt"  # kept exactly, never parsed as markup
    cli("attach", "N", str(src), "--name", odd, check=True)
    table = cli("attachments", "N", check=True).stdout
    assert odd in table
    assert json.loads(cli("attachments", "N", "--json").stdout)[0]["name"] == odd


def test_purge_by_id_with_attachments(cli: CLI, tmp_path: Path) -> None:
    """`vault rm ID --purge` opens only that note (a partial view): the purge works, and the
    files are freed by a later full opening, a sync or another purge."""
    cli.init()
    note_id = _new(cli, "Doomed")
    src = tmp_path / "x.bin"
    src.write_bytes(b"x" * 100)
    cli("attach", "Doomed", str(src), check=True)
    cli("rm", note_id[:8], "--purge", "--yes", check=True)
    listed = cli("attachments", note_id[:8])
    assert listed.returncode == 1 and "no note" in listed.stderr


def test_bytes_not_here_yet_exit_5(cli: CLI, tmp_path: Path) -> None:
    cli.init()
    _new(cli, "N")
    src = tmp_path / "x.bin"
    src.write_bytes(b"x" * 100)
    cli("attach", "N", str(src), check=True)
    for blob in (cli.vault_dir / "blobs").glob("*.blob"):
        blob.unlink()
    listed = cli("attachments", "N", check=True)
    assert "not yet here" in listed.stdout
    got = cli("attachment", "get", "N", "x.bin", "-o", str(tmp_path / "out.bin"))
    assert got.returncode == 5 and "not here yet" in got.stderr
    assert len(got.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out.bin").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]


def test_check_verifies_every_blob_and_reports_a_tampered_one(
    cli: CLI, tmp_path: Path, vault_path: Path
) -> None:
    cli.init()
    note_id = _new(cli, "Receipts")
    a, b = tmp_path / "scan.pdf", tmp_path / "photo.png"
    a.write_bytes(os.urandom(3 * 1024 * 1024 + 5))
    b.write_bytes(os.urandom(3000))
    cli("attach", "Receipts", str(a), str(b), check=True)
    ok = cli("check", check=True).stdout
    assert "2 attached files checked." in ok and "Everything opens." in ok
    blobs = sorted((vault_path / "blobs").glob("*.blob"), key=lambda p: p.stat().st_size)
    small, big = blobs
    # a bit flipped in the big file's second part: reading it back fails, and check names it
    data = bytearray(big.read_bytes())
    data[33 + 1024 * 1024 + 17 + 500] ^= 0x40
    big.write_bytes(bytes(data))
    got = cli("attachment", "get", "Receipts", "scan.pdf", "-o", str(tmp_path / "out.pdf"))
    assert got.returncode != 0 and not (tmp_path / "out.pdf").exists()
    result = cli("check")
    assert result.returncode == 1
    damaged = [line for line in result.stdout.splitlines() if "damaged:" in line]
    assert len(damaged) == 1, result.stdout
    assert big.name[:8] in damaged[0] and "'scan.pdf' of note " + note_id[:8] in damaged[0]
    assert "Everything opens." not in result.stdout
    report = json.loads(cli("check", "--json").stdout)
    assert report["blobs"] == 2 and list(report["damaged_blobs"]) == [big.name[:64]]
    # a blob not here (yet) is not damaged
    big.unlink()
    assert "1 attached file checked." in cli("check", check=True).stdout
    small.write_bytes(small.read_bytes()[:-1])  # truncated
    assert cli("check").returncode == 1


def test_a_damaged_blob_read_to_standard_output_leaves_only_a_prefix(
    cli: CLI, tmp_path: Path
) -> None:
    """`-o -` with standard output redirected to a file: a blob damaged in its second segment
    fails with one line, and the file holds a prefix of the content, never later segments
    written ahead around a hole (the pool writes in place only into files of its own);
    `-o PATH` leaves nothing; a closed standard output is one line too."""
    from vault.storage.blobs import SEGMENT, _Layout

    cli.init()
    _new(cli, "Big")
    content = os.urandom(3 * SEGMENT + 12345)  # four segments
    source = tmp_path / "big.bin"
    source.write_bytes(content)
    cli("attach", "Big", str(source), check=True)
    (blob,) = (cli.vault_dir / "blobs").glob("*.blob")
    damaged = bytearray(blob.read_bytes())
    damaged[_Layout(len(content)).offset(1) + 24 + 100] ^= 1  # inside segment 1's first part
    blob.chmod(0o600)
    blob.write_bytes(damaged)

    out = tmp_path / "out"
    out.mkdir()
    target = out / "stdout.bin"
    with target.open("wb") as stdout:
        result = subprocess.run(
            [*vault_command(), "attachment", "get", "Big", "big.bin", "-o", "-"],
            stdout=stdout,
            stderr=subprocess.PIPE,
            text=True,
            env=cli.env(),
            start_new_session=True,
            timeout=120,
        )
    assert result.returncode == 1 and len(result.stderr.strip().splitlines()) == 1
    written = target.read_bytes()
    assert len(written) <= SEGMENT and written == content[: len(written)]

    saved = cli("attachment", "get", "Big", "big.bin", "-o", str(out / "saved.bin"))
    assert saved.returncode == 1 and len(saved.stderr.strip().splitlines()) == 1
    assert [p.name for p in out.iterdir()] == ["stdout.bin"]

    closed = subprocess.run(
        [*vault_command(), "attachment", "get", "Big", "big.bin", "-o", "-"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=cli.env(),
        start_new_session=True,
        timeout=120,
        preexec_fn=lambda: os.close(1),
    )
    assert closed.returncode == 1
    assert closed.stderr.strip() == "vault: standard output is closed; use -o PATH"
