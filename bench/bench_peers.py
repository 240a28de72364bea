"""Peers: the `vault` command against jrnl, pass and keepassxc-cli, whole commands, same notes.

Each tool gets the notes of the benchmark's sample vault (same titles, bodies and notebooks,
read back from that vault, so the corpora are identical by construction), in its encrypted
mode, with its secret given the way a script gives it. Then the same four operations are timed
as whole commands, the way a person runs them: list all, search a word present in about 1% of
the notes, show one, add one. Each figure is the wall time of the child process (start, unlock,
work, output to a file), the median of several runs after a warm-up, and the child's peak RSS.

    bench/peers/install.sh           # or: python bench/bench_peers.py --install
    python bench/bench_peers.py      # prints one Markdown section (run.py collects it)

With VAULT_BENCH_SMOKE=1 it runs on 50 notes, once each, and skips peers not installed.
"""

from __future__ import annotations

import base64
import dataclasses
import fcntl
import hashlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

from common import PASSWORD, WORK, fmt, sample_vault

from vault.notes.vault import Vault
from vault.sealing.crypto import DEFAULT_KDF, TEST_KDF, KdfParams

HERE = Path(__file__).resolve().parent
SMOKE = os.environ.get("VAULT_BENCH_SMOKE") == "1"
NOTES = 50 if SMOKE else 10_000
REPEAT = 1 if SMOKE else 5
SLOW = 5.0  # a command slower than this is timed twice (warm-up included), not REPEAT times
VERY_SLOW = 60.0  # and one slower than this only once (pass grep on 10,000 notes)
PEERS = WORK / ("peers-smoke" if SMOKE else "peers")
# where bench/peers/install.sh puts jrnl's own venv (whatever WORK is in this run)
JRNL = HERE / ".work" / "peers" / "jrnl-venv" / "bin" / "jrnl"
INSTALLER = HERE / "peers" / "install.sh"
GPG_ID = "vault-bench@example.invalid"
OPS = ("list all", "search", "show one", "add one")
SECRET = PASSWORD + "\n"  # what jrnl and keepassxc-cli read from stdin with no terminal
GNU_TIME = Path("/usr/bin/time").exists()


@dataclass
class Note:
    id: str
    notebook: str  # 'Area 0/Topic 1', '' at the top
    title: str
    body: str


@dataclass
class Task:
    """What the operations act on: the 1% word, the note to show (and its position), the note
    to add."""

    word: str
    show: Note
    show_k: int
    add: Note


@dataclass
class Result:
    seconds: float
    rss_kib: int
    runs: int


Command = Callable[[int], tuple[list[str], str]]  # run number -> argv, stdin


@dataclass
class Tool:
    name: str
    settings: str
    notes: int
    env: dict[str, str]
    commands: dict[str, Command]
    results: dict[str, Result] = field(default_factory=dict)
    fixed: Result | None = None  # `list all` on a one-note store: start + unlock
    start: Result | None = None  # `--version`: the process start alone
    version: list[str] = field(default_factory=list)
    setup: str = ""
    before: Command | None = None  # `vault unlock`, run with session_env
    after: Command | None = None  # `vault lock`
    session_env: dict[str, str] = field(default_factory=dict)


# --- running a command ----------------------------------------------------------------------------


def run_once(argv: list[str], env: dict[str, str], stdin: str = "") -> tuple[float, int, str]:
    """Wall time, peak RSS in KiB and stdout of one whole command. It has no controlling
    terminal, so nothing can prompt on /dev/tty.

    The RSS comes from GNU time (`/usr/bin/time -f %M`, the largest of the command's processes)
    because a child forked from this process starts with this process's high-water mark, which
    getrusage would report instead; GNU time adds about a millisecond to the wall time."""
    with tempfile.TemporaryFile() as fin, tempfile.TemporaryFile() as fout:
        with tempfile.TemporaryFile() as ferr, tempfile.NamedTemporaryFile("r") as frss:
            fin.write(stdin.encode())
            fin.seek(0)
            wrap = ["/usr/bin/time", "-f", "%M", "-o", frss.name] if GNU_TIME else []
            start = time.perf_counter()
            proc = subprocess.run(
                wrap + argv, stdin=fin, stdout=fout, stderr=ferr, env=env, start_new_session=True
            )
            took = time.perf_counter() - start
            if proc.returncode != 0:
                ferr.seek(0)
                err = ferr.read().decode(errors="replace")[-2000:]
                raise RuntimeError(f"{' '.join(argv[:4])} exited {proc.returncode}: {err}")
            lines = frss.read().split()
            rss = int(lines[-1]) if lines and lines[-1].isdigit() else 0
        fout.seek(0)
        return took, rss, fout.read().decode(errors="replace")


def measure(tool: Tool, command: Command, check: str | None = None) -> Result:
    """A warm-up run, then the median of REPEAT runs (the warm-up and one more if a run takes
    over SLOW; the warm-up alone in smoke mode)."""
    argv, stdin = command(0)
    took, peak, out = run_once(argv, tool.env, stdin)
    if check is not None and check not in out:
        raise RuntimeError(f"{tool.name}: {' '.join(argv[:4])} printed no {check!r}")
    if SMOKE:
        return Result(took, peak, 1)
    times = [took] if took > SLOW else []
    for i in range(0 if took > VERY_SLOW else 1 if took > SLOW else REPEAT):
        argv, stdin = command(i + 1)
        took, rss, _ = run_once(argv, tool.env, stdin)
        times.append(took)
        peak = max(peak, rss)
    return Result(statistics.median(times), peak, len(times))


def base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "GNUPG"))}
    env.setdefault("LC_ALL", "C.UTF-8")
    return env


KDF_PROBE = """
import hashlib, sys, time
from vault.sealing.crypto import DEFAULT_KDF, argon2id
def fastest(fn, n):
    times = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)
n = int(sys.argv[1])
print(fastest(lambda: argon2id(b"x", bytes(16), DEFAULT_KDF), n))
print(fastest(lambda: hashlib.pbkdf2_hmac("sha256", b"x", bytes(16), 100_000), 3))
"""


def kdf_costs() -> dict[str, float]:
    """Each KDF alone, the fastest of a few runs, in a fresh process: this sets keepassxc-cli's
    KDF time. (In this process, which holds the whole corpus, Argon2id measured 2-3 times
    slower than in a fresh one.)"""
    argv = [sys.executable, "-c", KDF_PROBE, "1" if SMOKE else "3"]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout.split()
    return {"vault": float(out[0]), "jrnl": float(out[1])}


# --- the corpus -----------------------------------------------------------------------------------


def read_corpus(path: Path) -> list[Note]:
    with Vault.unlock(path, password=PASSWORD) as vault:
        notes = vault.notes(sort="created")
        return [Note(n.id, vault.notebook_path(n.notebook), n.title, n.body) for n in notes]


def pick_word(notes: list[Note]) -> tuple[str, int]:
    """A word in about 1% of the notes that is part of no other word (pass grep, jrnl and
    keepassxc-cli match substrings; vault matches words)."""
    texts = [f"{n.title}\n{n.body}".lower() for n in notes]
    df: Counter[str] = Counter()
    for text in texts:
        df.update(set(re.findall(r"\w+", text)))
    target = max(1, len(notes) // 100)
    for word, count in sorted(df.items(), key=lambda wc: (abs(wc[1] - target), wc[0])):
        if len(word) >= 4 and sum(word in t for t in texts) == count:
            return word, count
    raise RuntimeError("no word in 1% of the notes")


def make_task(notes: list[Note]) -> Task:
    word, _ = pick_word(notes)
    titles = Counter((n.notebook, n.title) for n in notes)
    # the note to show: the first past the middle whose title is unique in its notebook (the
    # peers that name entries by path show the first of equal names)
    k = next(
        k
        for k in range(len(notes) // 2, len(notes))
        if titles[(notes[k].notebook, notes[k].title)] == 1
    )
    add = Note("", notes[0].notebook, "Bench added note", notes[1 % len(notes)].body)
    return Task(word, notes[k], k, add)


# --- vault ----------------------------------------------------------------------------------------


def vault_exe() -> list[str]:
    script = Path(sys.executable).with_name("vault")
    return [str(script)] if script.exists() else [sys.executable, "-m", "vault"]


def vault_env(path: Path, with_password: bool = True) -> dict[str, str]:
    env = base_env()
    env["VAULT_DIR"] = str(path)
    env["VAULT_CONFIG"] = str(PEERS / "vault-config.toml")
    if with_password:
        env["VAULT_PASSWORD"] = PASSWORD
    return env


def vault_copy(src: Path, dest: Path, kdf: KdfParams | None) -> Path:
    """A fresh copy of the sample vault (its notes are not touched), behind `kdf` if given."""
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(src, dest)
    if kdf is not None:
        with Vault.unlock(dest, password=PASSWORD) as v:
            v.change_password(PASSWORD, keyfile=None, kdf=kdf)
    return dest


def one_note_vault(dest: Path, note: Note, kdf: KdfParams) -> Path:
    shutil.rmtree(dest, ignore_errors=True)
    vault, _ = Vault.create(dest, PASSWORD, kdf=kdf, allow_weak_kdf=kdf == TEST_KDF)
    with vault:
        vault.create_note(note.title, note.body)
    return dest


def vault_tool(name: str, settings: str, path: Path, notes: int, task: Task) -> Tool:
    exe = vault_exe()
    add = task.add
    return Tool(
        name,
        settings,
        notes,
        vault_env(path),
        {
            "list all": lambda i: ([*exe, "ls"], ""),
            "search": lambda i: ([*exe, "search", task.word], ""),
            "show one": lambda i: ([*exe, "show", task.show.id], ""),
            "add one": lambda i: (
                [*exe, "new", f"{add.title} {i}", "--notebook", add.notebook],
                add.body,
            ),
        },
    )


def with_session(tool: Tool) -> Tool:
    """The same vault behind an unlocked session (issue 7): `vault unlock` once with the
    password, the operations with no password anywhere, `vault lock` at the end."""
    exe = vault_exe()
    tool.session_env = dict(tool.env)
    tool.env = {k: v for k, v in tool.env.items() if k != "VAULT_PASSWORD"}
    tool.before = lambda i: ([*exe, "unlock"], "")
    tool.after = lambda i: ([*exe, "lock"], "")
    return tool


def session_available() -> bool:
    argv = [*vault_exe(), "unlock", "--help"]
    return subprocess.run(argv, capture_output=True, env=base_env()).returncode == 0


# --- jrnl -----------------------------------------------------------------------------------------

JRNL_EPOCH = 7305  # entry k is dated 1990-01-01 + k days, so `-on DATE` shows exactly one


def jrnl_date(k: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime((JRNL_EPOCH + k) * 86400))


def jrnl_tool(notes: list[Note], folder: Path, task: Task) -> Tool:
    journal, config = folder / "journal.txt", folder / "jrnl.yaml"
    env = base_env()
    for var in ("HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME"):
        env[var] = str(folder)  # nothing of jrnl's outside this folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    config.write_text(
        "colors: {body: none, date: none, tags: none, title: none}\n"
        "default_hour: 9\ndefault_minute: 0\neditor: ''\nencrypt: false\n"
        "highlight: false\nindent_character: '|'\nlinewrap: 79\n"
        "tagsymbols: '@'\ntemplate: false\ntimeformat: '%Y-%m-%d %H:%M'\n"
        f"version: v4.6\njournals:\n  default:\n    journal: {journal}\n    encrypt: false\n"
    )
    start = time.perf_counter()
    with journal.open("w") as out:
        for k, note in enumerate(notes):
            out.write(f"[{jrnl_date(k)} 09:00] {note.title}\n{note.body}\n\n")
    # --encrypt asks for the new password twice, then whether to keep it in a keyring (no)
    base = [str(JRNL), "--config-file", str(config)]
    run_once([*base, "--encrypt"], env, SECRET * 2 + "n\n")
    if journal.read_bytes()[:6] != b"JRNLv3":
        raise RuntimeError("jrnl did not encrypt the journal")
    took = time.perf_counter() - start
    add = task.add
    return Tool(
        "jrnl",
        "",
        len(notes),
        env,
        {
            "list all": lambda i: ([*base, "--short"], SECRET),
            "search": lambda i: ([*base, "-contains", task.word, "--short"], SECRET),
            "show one": lambda i: ([*base, "-on", jrnl_date(task.show_k)], SECRET),
            "add one": lambda i: ([*base, f"{add.title} {i}.\n{add.body}"], SECRET),
        },
        setup=f"plain journal file written, then `jrnl --encrypt`: {fmt(took)}",
    )


# --- pass -----------------------------------------------------------------------------------------


def pass_name(note: Note) -> str:
    # pass names entries by path; titles repeat, so the id's first 8 characters keep them apart
    return f"{note.notebook}/{note.title} {note.id[:8]}".lstrip("/")


def pass_tool(notes: list[Note], folder: Path, task: Task) -> Tool:
    gnupg, store = folder / "gnupg", folder / "store"
    env = base_env()
    env["GNUPGHOME"] = str(gnupg)
    env["PASSWORD_STORE_DIR"] = str(store)
    # reused while the notes are the same (its insertion takes a while at 10,000)
    digest = hashlib.blake2b("\0".join(map(pass_name, notes)).encode(), digest_size=8)
    marker = folder / f".complete-{len(notes)}-{digest.hexdigest()}"
    setup = "reused from an earlier run"
    if not marker.exists():
        if gnupg.exists():
            stop_gpg_agent(env)
        shutil.rmtree(folder, ignore_errors=True)
        gnupg.mkdir(parents=True, mode=0o700)
        start = time.perf_counter()
        # gpg's default key (RSA 3072) with no passphrase: usable at once, as it is when
        # gpg-agent already holds the passphrase
        keygen = ["gpg", "--batch", "--passphrase", "", "--quick-gen-key", GPG_ID]
        run_once([*keygen, "default", "default", "never"], env)
        run_once(["pass", "init", GPG_ID], env)
        plain = folder / "plain"
        files = []
        for note in notes:
            target = plain / pass_name(note)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(f"{note.title}\n{note.body}\n")
            files.append(str(target))
        inserted = time.perf_counter()
        # what `pass insert` does per entry, done by one gpg process for 500 files at a time
        for i in range(0, len(files), 500):
            encrypt = ["gpg", "--batch", "--yes", "-r", GPG_ID, "--encrypt", "--multifile"]
            run_once(encrypt + files[i : i + 500], env)
        for note in notes:
            dest = store / (pass_name(note) + ".gpg")
            dest.parent.mkdir(parents=True, exist_ok=True)
            (plain / (pass_name(note) + ".gpg")).rename(dest)
        shutil.rmtree(plain)
        marker.write_text("")
        setup = (
            f"gpg --encrypt --multifile, 500 files per call: {fmt(time.perf_counter() - inserted)}"
            f" (key and files {fmt(inserted - start)})"
        )
    add = task.add
    return Tool(
        "pass",
        "",
        len(notes),
        env,
        {
            "list all": lambda i: (["pass", "ls"], ""),
            "search": lambda i: (["pass", "grep", "-i", task.word], ""),
            "show one": lambda i: (["pass", "show", pass_name(task.show)], ""),
            "add one": lambda i: (
                ["pass", "insert", "-m", "-f", f"{pass_name(add)}{i}"],
                f"{add.title}\n{add.body}\n",
            ),
        },
        setup=setup,
    )


def stop_gpg_agent(env: dict[str, str]) -> None:
    subprocess.run(["gpgconf", "--kill", "gpg-agent"], env=env, capture_output=True)


# --- keepassxc-cli --------------------------------------------------------------------------------


def keepass_xml(notes: list[Note]) -> str:
    """A KeePass 2 XML file holding the notes: notebooks as groups, title and notes fields."""

    def uuid(text: str) -> str:
        return base64.b64encode(hashlib.blake2b(text.encode(), digest_size=16).digest()).decode()

    tree: dict = {}
    for note in notes:
        node = tree
        for part in [p for p in note.notebook.split("/") if p]:
            node = node.setdefault(part, {})
        node.setdefault("\0", []).append(note)

    def group(name: str, node: dict, path: str) -> str:
        out = [f"<Group><UUID>{uuid('g' + path)}</UUID><Name>{escape(name)}</Name>"]
        for note in node.get("\0", []):
            out.append(
                f"<Entry><UUID>{uuid('e' + note.id)}</UUID>"
                f"<String><Key>Title</Key><Value>{escape(note.title)}</Value></String>"
                f"<String><Key>Notes</Key><Value>{escape(note.body)}</Value></String></Entry>"
            )
        for child, sub in node.items():
            if child != "\0":
                out.append(group(child, sub, f"{path}/{child}"))
        return "".join(out) + "</Group>"

    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<KeePassFile><Meta>'
        "<Generator>vault bench</Generator></Meta><Root>"
        + group("Root", tree, "")
        + "</Root></KeePassFile>\n"
    )


def keepassxc_tool(notes: list[Note], folder: Path, task: Task, decryption_ms: int | None) -> Tool:
    db = folder / "notes.kdbx"
    env = base_env()
    env["HOME"] = str(folder)
    env["XDG_CONFIG_HOME"] = str(folder)
    env["QT_QPA_PLATFORM"] = "offscreen"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    xml = folder / "import.xml"
    xml.write_text(keepass_xml(notes))
    # import asks for the new password twice; -t calibrates the KDF to that many milliseconds
    argv = ["keepassxc-cli", "import", "-p"]
    if decryption_ms:
        argv += ["-t", str(decryption_ms)]
    took = run_once([*argv, str(xml), str(db)], env, SECRET * 2)[0]
    xml.unlink()
    info = run_once(["keepassxc-cli", "db-info", "-q", str(db)], env, SECRET)[2]
    kdf = re.search(r"KDF: (.*)", info)

    def entry(note: Note, suffix: str = "") -> str:
        return f"{note.notebook}/{note.title}{suffix}".lstrip("/")

    cli, q, add = "keepassxc-cli", ["-q", str(db)], task.add
    return Tool(
        "keepassxc-cli",
        kdf.group(1) if kdf else "?",
        len(notes),
        env,
        {
            "list all": lambda i: ([cli, "ls", "-R", "-f", *q], SECRET),
            "search": lambda i: ([cli, "search", *q, task.word], SECRET),
            "show one": lambda i: ([cli, "show", *q, entry(task.show)], SECRET),
            "add one": lambda i: (
                [cli, "add", "--notes", add.body, *q, entry(add, f" {i}")],
                SECRET,
            ),
        },
        setup=f"`keepassxc-cli import` of a KeePass XML file: {fmt(took)}",
    )


# --- the run --------------------------------------------------------------------------------------


def installed() -> dict[str, str]:
    """Peers missing here, each with why."""
    missing = {}
    if not JRNL.exists():
        missing["jrnl"] = f"no {JRNL.relative_to(HERE.parent)}"
    if not shutil.which("pass") or not shutil.which("gpg"):
        missing["pass"] = "no `pass` or `gpg` on PATH"
    if not shutil.which("keepassxc-cli"):
        missing["keepassxc-cli"] = "no `keepassxc-cli` on PATH"
    return missing


def run_tool(tool: Tool, twin: Tool, task: Task, twin_title: str) -> None:
    """The four operations, then `list all` on the one-note twin (the fixed cost)."""
    for t in (tool, twin):
        if t.before:
            argv, stdin = t.before(0)
            run_once(argv, t.session_env, stdin)
    try:
        # the first word of the title: vault's tables wrap long titles
        first = task.show.title.split()[0]
        checks = {"list all": first, "show one": first}
        for op in OPS:
            tool.results[op] = measure(tool, tool.commands[op], checks.get(op))
        tool.fixed = measure(twin, twin.commands["list all"], twin_title.split()[0])
        if tool.version:
            tool.start = measure(tool, lambda i: (tool.version, ""))
    finally:
        for t in (tool, twin):
            if t.after:
                argv, stdin = t.after(0)
                run_once(argv, t.session_env, stdin)


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:,.0f} ms" if seconds >= 0.1 else fmt(seconds)


def report(
    tools: list[Tool],
    skipped: list[str],
    task: Task,
    hits: int,
    corpus: int,
    costs: dict[str, float],
    notes: list[str],
) -> str:
    out = [
        f"## Peers ({corpus:,} notes: vault, jrnl, pass, keepassxc-cli, whole commands)",
        "",
        "Each figure is one whole command as a person or a script runs it: process start, "
        "unlock (the tool's key derivation, where it has one per command), the work, and the "
        f"output written to a file; median of {REPEAT} runs after a warm-up (a command over "
        f"{SLOW:.0f} s: 2 runs, over {VERY_SLOW:.0f} s: 1), every tool holding the same notes. "
        "Search is for "
        f"`{task.word}`, a word in {hits} of the {corpus:,} notes ({hits / corpus:.1%}). "
        "*Start* is `--version` (the process alone); *fixed* is `list all` on a store of one "
        "note (start, unlock and open: what every command pays before it touches the notes). "
        "Peak RSS is the largest of the command's own processes over all its runs (agents "
        "left running, gpg-agent or vault's session agent, are not counted).",
        "",
        "| tool | settings | notes | list all | search | show one | add one | start | fixed "
        "| peak RSS |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for t in tools:
        cells = [ms(t.results[op].seconds) for op in OPS]
        cells += [ms(r.seconds) if r else "–" for r in (t.start, t.fixed)]
        rss = max(r.rss_kib for r in t.results.values()) / 1024
        out.append(
            f"| {t.name} | {t.settings} | {t.notes:,} | "
            + " | ".join(cells)
            + f" | {rss:.0f} MiB |"
        )
    for line in skipped:
        out.append(f"| {line} | | | | | | | | |")

    per_command, session, tiny = (vault_row(tools, w) for w in ("default KDF", "unlocked", "tiny"))
    no_kdf = session or tiny
    if per_command and no_kdf:
        out += [
            "",
            "Ratios, peer ÷ vault (above 1×, vault is faster). Each cell: the ratio to vault with "
            "its default KDF on every command (a script with `VAULT_PASSWORD`), then to vault "
            + (
                "with an unlocked session (`vault unlock` once, then no KDF)."
                if session
                else "with the tiny test KDF (no `vault unlock` yet to take the KDF out)."
            ),
            "",
            "| peer | settings | list all | search | show one | add one | fixed |",
            "|---|---|---:|---:|---:|---:|---:|",
        ]
        lost: dict[str, dict[str, list[str]]] = {"a": {}, "b": {}}
        for t in tools:
            if t.name == "vault":
                continue
            cells = []
            label = (
                t.name if t.name != "keepassxc-cli" else f"{t.name} ({t.settings.split(':')[0]})"
            )
            for op, mine, theirs_a, theirs_b in [
                (op, t.results[op], per_command.results[op], no_kdf.results[op]) for op in OPS
            ] + [("fixed", t.fixed, per_command.fixed, no_kdf.fixed)]:
                a, b = mine.seconds / theirs_a.seconds, mine.seconds / theirs_b.seconds
                cells.append(f"{a:.2f}× · {b:.2f}×")
                if op != "fixed":
                    for key, ratio in (("a", a), ("b", b)):
                        if ratio < 1:
                            lost[key].setdefault(label, []).append(op)
            out.append(f"| {t.name} | {t.settings} | " + " | ".join(cells) + " |")

        def losses(key: str) -> str:
            return "; ".join(f"{k}: {', '.join(v)}" for k, v in lost[key].items()) or "none"

        out += [
            "",
            f"Vault with its default KDF on every command is slower than {losses('a')}.",
            "",
            f"Vault {'with an unlocked session' if session else 'with the tiny test KDF'} is "
            f"slower than {losses('b')}.",
        ]
    out += [
        "",
        f"Key derivation alone, in a fresh process, fastest of 3: vault's default Argon2id "
        f"{fmt(costs['vault'])}; "
        f"jrnl's PBKDF2-SHA256, 100,000 iterations, {fmt(costs['jrnl'])}."
        + (
            f" A bare Python start (`python -I -S -c pass`, the least any vault command "
            f"pays): {fmt(costs['python'])}."
            if "python" in costs
            else ""
        ),
    ]
    kdf_each = per_command_kdf(tools)
    if kdf_each:
        out += [
            "",
            "The KDF per command, as the difference of fixed costs (whole commands, one note): "
            + "; ".join(f"{what} {fmt(seconds)}" for what, seconds in kdf_each)
            + ".",
        ]
    out += [""] + [f"- {line}" for line in notes]
    why = reasons(tools, costs)
    if why:
        out += ["", why]
    return "\n".join(out)


def per_command_kdf(tools: list[Tool]) -> list[tuple[str, float]]:
    """What each tool's KDF adds to every command: its fixed cost less that of the same tool
    with the KDF taken out (or made negligible)."""
    pairs = [
        ("vault", vault_row(tools, "default KDF"), vault_row(tools, "tiny")),
        (
            "keepassxc-cli with `-t`",
            next((t for t in tools if t.settings.startswith("KDF set like")), None),
            next((t for t in tools if t.settings.startswith("import's default")), None),
        ),
    ]
    return [
        (what, strong.fixed.seconds - weak.fixed.seconds)
        for what, strong, weak in pairs
        if strong and weak and strong.fixed and weak.fixed
    ]


def vault_row(tools: list[Tool], start: str) -> Tool | None:
    """The vault row whose settings start so: 'default KDF', 'tiny' or 'unlocked'."""
    return next((t for t in tools if t.name == "vault" and t.settings.startswith(start)), None)


def reasons(tools: list[Tool], costs: dict[str, float]) -> str:
    """Where the time of a vault command goes, from this run's figures."""
    first = {t.name: t for t in reversed(tools)}  # the first row of each tool
    per_command = vault_row(tools, "default KDF")
    no_kdf = vault_row(tools, "unlocked") or vault_row(tools, "tiny")
    if not (per_command and no_kdf and per_command.start and no_kdf.fixed and per_command.fixed):
        return ""
    starts = ", ".join(
        f"{name} {fmt(t.start.seconds)}"
        for name, t in first.items()
        if name != "vault" and t.start is not None
    )
    python = f" (Python alone: {fmt(costs['python'])})" if "python" in costs else ""
    opening = no_kdf.results["show one"].seconds - no_kdf.fixed.seconds
    return (
        "Where a vault command's time goes: the process start, importing the CLI, "
        f"{fmt(per_command.start.seconds)} for `vault --version`{python}"
        + (f", against {starts};" if starts else ";")
        + " with `VAULT_PASSWORD`, Argon2id on every command (fixed cost "
        f"{fmt(per_command.fixed.seconds)}, against {fmt(no_kdf.fixed.seconds)} without it), "
        "which `vault unlock` removes; then the notes themselves (`show one` costs "
        f"{fmt(opening)} beyond the fixed cost with {no_kdf.notes:,} notes; pass decrypts one "
        "file, while jrnl and keepassxc-cli decrypt everything on every command). `pass ls` decrypts nothing: pass keeps titles and notebooks as plaintext file "
        "names, which vault encrypts."
    )


def main(argv: list[str]) -> int:
    if "--install" in argv:
        return subprocess.run(["bash", str(INSTALLER)]).returncode
    if "--report" in argv:  # print the last run's figures again
        print(load())
        return 0
    PEERS.mkdir(parents=True, exist_ok=True)
    # one run at a time per work folder: each run rebuilds the tools' copies of the notes
    lock = (PEERS / ".lock").open("w")
    fcntl.flock(lock, fcntl.LOCK_EX)
    # the benchmarks' sample vault (same generator, same seed: the same notes as core-10k),
    # in a folder of its own so that no other benchmark rebuilds it under us; only read here
    src = sample_vault(PEERS / f"sample-{NOTES}", notes=NOTES)
    corpus = read_corpus(src)
    task = make_task(corpus)
    _, hits = pick_word(corpus)
    one = corpus[:1]
    costs = kdf_costs()
    bare = [sys.executable, "-I", "-S", "-c", "pass"]
    costs["python"] = statistics.median(run_once(bare, base_env())[0] for _ in range(REPEAT))
    equal_ms = max(1, round(costs["vault"] * 1000))
    missing = installed()
    tools: list[tuple[Tool, Tool]] = []
    notes: list[str] = [
        "vault: the real `vault` command (the venv's script) with `VAULT_DIR`, a private "
        "`VAULT_CONFIG` and `VAULT_PASSWORD` in the environment, on copies of the sample vault: "
        "one behind the default KDF, one behind the tiny test KDF (the KDF taken out). Every "
        "command unlocks the master key, then opens the notes (titles are encrypted too; "
        "nothing is kept on disk in plaintext). list = `vault ls`, search = "
        "`vault search WORD`, show = `vault show ID`, add = `vault new TITLE --notebook NB` "
        "with the body on stdin.",
        "vault, unlocked session: `vault unlock` once with `VAULT_PASSWORD` (not timed), the "
        "same commands with no password in the environment, `vault lock` afterwards; the key "
        "comes from the session agent, so no KDF runs per command.",
        "jrnl: one encrypted journal (`encrypt: true`: Fernet over the whole file, its key from "
        "PBKDF2-SHA256 with 100,000 iterations, fixed by jrnl), the password on stdin (getpass "
        "reads stdin when there is no terminal), keyring declined. Every command decrypts and "
        "parses the whole journal; add re-encrypts it. No notebooks, no ids: entries are dated a "
        "day apart and show = `jrnl -on DATE`; list = `jrnl --short`, search = `jrnl -contains "
        'WORD --short`, add = `jrnl "TITLE. BODY"`.',
        "pass: a file per note, `NOTEBOOK/TITLE ID8.gpg` (title line, then body), encrypted to "
        "gpg's default key (RSA 3072) in a private GNUPGHOME, the key without a passphrase: no "
        "KDF per command, as with gpg-agent holding a cached passphrase. `pass ls` prints the "
        "file tree and decrypts nothing (names, i.e. titles and notebooks, are plaintext on "
        "disk); `pass grep -i WORD` runs one gpg per note; show = `pass show NAME`; add = "
        "`pass insert -m -f NAME`, body on stdin, one gpg.",
        "keepassxc-cli: one KDBX 4 file made by `keepassxc-cli import` of a generated KeePass "
        "XML file (notebooks as groups, title and Notes fields), the password on stdin. Without "
        "`-t`, import and db-create pick AES-KDF with 1,000,000 rounds, cheap (the app's default "
        "for a new database is Argon2d at about 1 s); the second file is made with `-t` set to "
        "vault's KDF time here, so its per-command KDF costs what vault's does. Every command "
        "decrypts and parses the whole file; add also re-encrypts and writes it. list = `ls -R "
        "-f`, search = `search WORD` (title, user name, URL, notes), show = `show GROUP/TITLE`, "
        "add = `add --notes BODY GROUP/TITLE`.",
    ]

    # vault: its default KDF on every command; the KDF taken out; an unlocked session
    print("vault ...", file=sys.stderr, flush=True)
    strong = vault_copy(src, PEERS / "vault-default-kdf", DEFAULT_KDF)
    strong1 = one_note_vault(PEERS / "vault-default-kdf-1", one[0], DEFAULT_KDF)
    tiny = vault_copy(src, PEERS / "vault-tiny-kdf", None)
    tiny1 = one_note_vault(PEERS / "vault-tiny-kdf-1", one[0], TEST_KDF)
    default_settings = "default KDF each command (Argon2id 256 MiB, t=3, p=2)"
    tools.append(
        (
            vault_tool("vault", default_settings, strong, len(corpus), task),
            vault_tool("vault", default_settings, strong1, 1, task),
        )
    )
    tools.append(
        (
            vault_tool("vault", "tiny test KDF (1 MiB, t=1): no KDF", tiny, len(corpus), task),
            vault_tool("vault", "tiny", tiny1, 1, task),
        )
    )
    session = "unlocked session (`vault unlock`), default KDF once"
    skipped = []
    if session_available():
        tools.append(
            (
                with_session(vault_tool("vault", session, strong, len(corpus), task)),
                with_session(vault_tool("vault", session, strong1, 1, task)),
            )
        )
    else:
        skipped.append(f"vault | {session}: not available (no `vault unlock` yet)")

    if "jrnl" in missing:
        skipped.append(f"jrnl | not installed ({missing['jrnl']}): bench/peers/install.sh")
    else:
        print("jrnl ...", file=sys.stderr, flush=True)
        try:
            full = jrnl_tool(corpus, PEERS / "jrnl", task)
            full.settings = "encrypted journal: PBKDF2-SHA256 100k each command, password on stdin"
            tools.append((full, jrnl_tool(one, PEERS / "jrnl-1", task)))
            notes.append(f"jrnl {jrnl_version()}: {full.setup}.")
        except (OSError, RuntimeError) as exc:
            skipped.append(failed("jrnl", exc))
    if "pass" in missing:
        skipped.append(f"pass | not installed ({missing['pass']}): bench/peers/install.sh")
    else:
        print("pass ...", file=sys.stderr, flush=True)
        try:
            full = pass_tool(corpus, PEERS / "pass", task)
            full.settings = "GnuPG RSA 3072 key, no passphrase: no KDF (as with gpg-agent caching)"
            tools.append((full, pass_tool(one, PEERS / "pass-1", task)))
            notes.append(f"pass {tool_version(['pass', 'version'])}: {full.setup}.")
        except (OSError, RuntimeError) as exc:
            skipped.append(failed("pass", exc))
    if "keepassxc-cli" in missing:
        skipped.append(
            f"keepassxc-cli | not installed ({missing['keepassxc-cli']}): bench/peers/install.sh"
        )
    else:
        print("keepassxc-cli ...", file=sys.stderr, flush=True)
        kdfs = [("default", None), ("equalised", equal_ms)]
        if SMOKE:  # the same code with -t; its KDF would take most of the smoke run
            kdfs = kdfs[:1]
            skipped.append("keepassxc-cli | KDF set like vault's: skipped in smoke mode")
        for label, decryption_ms in kdfs:
            folder = PEERS / f"keepassxc-{label}"
            try:
                full = keepassxc_tool(corpus, folder, task, decryption_ms)
                twin = keepassxc_tool(one, PEERS / f"keepassxc-{label}-1", task, decryption_ms)
            except (OSError, RuntimeError) as exc:
                skipped.append(failed(f"keepassxc-cli ({label} KDF)", exc))
                continue
            if decryption_ms:
                full.settings = f"KDF set like vault's (`-t {decryption_ms}`): {full.settings}"
            else:
                full.settings = f"import's default KDF: {full.settings}"
            tools.append((full, twin))
            notes.append(f"keepassxc-cli, {label} KDF: {full.setup}.")

    starts = {
        "vault": [*vault_exe(), "--version"],
        "jrnl": [str(JRNL), "--version"],
        "pass": ["pass", "version"],
        "keepassxc-cli": ["keepassxc-cli", "--version"],
    }
    done = []
    for tool, twin in tools:
        print(f"  {tool.name}: {tool.settings}", file=sys.stderr, flush=True)
        tool.version = starts[tool.name]
        try:
            run_tool(tool, twin, task, one[0].title)
            done.append(tool)
        except (OSError, RuntimeError) as exc:
            skipped.append(failed(f"{tool.name} ({tool.settings})", exc))
        finally:
            if tool.name == "pass":  # the agents gpg started for this run
                stop_gpg_agent(tool.env)
                stop_gpg_agent(twin.env)

    save(done, skipped, task, hits, len(corpus), costs, notes)
    print(report(done, skipped, task, hits, len(corpus), costs, notes))
    return 0


def save(tools: list[Tool], skipped, task: Task, hits, corpus, costs, notes) -> None:
    """The measurements, so `--report` can print them again without measuring."""
    data = {
        "tools": [
            {
                "name": t.name,
                "settings": t.settings,
                "notes": t.notes,
                "results": {op: dataclasses.asdict(r) for op, r in t.results.items()},
                "start": t.start and dataclasses.asdict(t.start),
                "fixed": t.fixed and dataclasses.asdict(t.fixed),
            }
            for t in tools
        ],
        "skipped": skipped,
        "task": dataclasses.asdict(task),
        "hits": hits,
        "corpus": corpus,
        "costs": costs,
        "notes": notes,
    }
    (PEERS / "results.json").write_text(json.dumps(data, indent=1))


def load() -> str:
    data = json.loads((PEERS / "results.json").read_text())
    tools = []
    for t in data["tools"]:
        tool = Tool(t["name"], t["settings"], t["notes"], {}, {})
        tool.results = {op: Result(**r) for op, r in t["results"].items()}
        tool.start = t["start"] and Result(**t["start"])
        tool.fixed = t["fixed"] and Result(**t["fixed"])
        tools.append(tool)
    task = data["task"]
    task = Task(task["word"], Note(**task["show"]), task["show_k"], Note(**task["add"]))
    args = data["hits"], data["corpus"], data["costs"], data["notes"]
    return report(tools, data["skipped"], task, *args)


def failed(what: str, exc: BaseException) -> str:
    """A table row for a tool that could not be measured (the whole error goes to stderr)."""
    print(f"{what}: {exc}", file=sys.stderr)
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"{what} | FAILED: {first[:160].replace('|', '/')}"


def tool_version(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout
    except OSError:
        return "?"
    found = re.search(r"v?(\d+\.\d+(\.\d+)?)", out)
    return found.group(1) if found else "?"


def jrnl_version() -> str:
    return tool_version([str(JRNL), "--version"])


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
