"""Core at 1,000, 10,000 and 100,000 notes: unlocking, searching, filtering, saving, opening,
and peak memory; the targets of the benchmark issue are judged at 10,000 notes.

Each size runs in processes of its own (one for the timings, one for memory, so sizes and
measurements do not bleed into each other). Floors, measured in the same run on the same
vault: decrypting every envelope in a bare loop (sqlite3, json, base64, hashlib, PyNaCl; none
of the vault's code), `cp -r` and `tar cf` of the vault folder, a plain substring scan over the
already-folded texts for searching and filtering, one SQLite insert + commit for a save, and
one bare read + decrypt for opening a note.

    python bench/bench_core.py              # every size (VAULT_BENCH_SIZES to choose)
    python bench/bench_core.py --time 10000 # one size's timings, as JSON
    python bench/bench_core.py --rss 10000  # one size's peak memory, as JSON
"""

from __future__ import annotations

import base64
import difflib
import hashlib
import json
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from common import (
    MAIN_SIZE,
    PASSWORD,
    SMOKE,
    WORK,
    count,
    fmt,
    sample_path,
    sample_vault,
    sizes,
    strong_copy,
    timed,
)
from nacl.bindings import crypto_aead_xchacha20poly1305_ietf_decrypt

from vault.notes.merge import merge3
from vault.notes.search import Query, fold
from vault.notes.unlocking import Prefetch, unlock_master_key
from vault.notes.vault import Vault
from vault.sealing import snapshot
from vault.sealing.crypto import DEFAULT_KDF, Label, argon2id
from vault.storage.store import Store

HERE = Path(__file__).resolve().parent
LIVE_RANK_LIMIT = 2000  # vault.tui.data.NoteSource.RANK_LIMIT: what the app passes while typing
TYPED = ["garden", "trapolsen", "mikalo"]  # typed one letter at a time into the list filter
NEVER = Query(terms=("\uffff",))  # matches nothing: folding every note, as the app's warm-up


# --- floors: no vault code -------------------------------------------------------------------


def bare_decrypt_all(db_path: Path, items_key: bytes, vault_id: str) -> int:
    """The least any reader must do: read every live envelope and AEAD-open it."""
    db = sqlite3.connect(db_path)
    n = 0
    for row in db.execute(_SHOWN_OPS + " WHERE o.envelope IS NOT NULL"):
        n += len(bare_open(items_key, vault_id, *row))
    db.close()
    return n


# The shown version of each item with its claims (format 2 binds them into the AD).
_SHOWN_OPS = (
    "SELECT o.item_id, o.kind, o.envelope, o.op_id, o.device, o.deleted, o.parents "
    "FROM items i JOIN ops o ON o.op_id = i.op_id"
)


def bare_open(
    items_key: bytes,
    vault_id: str,
    item_id: str,
    kind: str,
    text: str,
    op_id: str,
    device: str,
    deleted: int,
    parents: str,
) -> bytes:
    env = json.loads(text)
    key = hashlib.blake2b(
        item_id.encode(),
        digest_size=32,
        key=items_key,
        salt=base64.b64decode(env["salt"]),
        person=Label.ITEM_KEY,
    ).digest()
    claims = f"{op_id}\x00{device}\x00{int(deleted)}\x00{','.join(json.loads(parents))}"
    ad = f"vault-item\x00{env['v']}\x00{vault_id}\x00{kind}\x00{item_id}\x00{claims}".encode()
    return crypto_aead_xchacha20poly1305_ietf_decrypt(
        base64.b64decode(env["cipher"]), ad, base64.b64decode(env["nonce"]), key
    )


def bare_open_one(db_path: Path, items_key: bytes, vault_id: str, item_id: str) -> bytes:
    db = sqlite3.connect(db_path)
    row = db.execute(_SHOWN_OPS + " WHERE i.item_id = ?", (item_id,)).fetchone()
    db.close()
    return bare_open(items_key, vault_id, *row)


def copy_floor(path: Path, how: str) -> float:
    out = WORK / f"floor-{how}"
    shutil.rmtree(out, ignore_errors=True)
    if how == "cp":
        command = ["cp", "-r", str(path), str(out)]
    else:
        out.mkdir(parents=True)
        command = ["tar", "cf", str(out / "vault.tar"), "-C", str(path), "."]

    def run() -> None:
        shutil.rmtree(out, ignore_errors=True)
        if how == "tar":
            out.mkdir(parents=True)
        subprocess.run(command, check=True)

    took = timed(run, repeat=3)
    shutil.rmtree(out, ignore_errors=True)
    return took


# --- the measurements of one size ------------------------------------------------------------


def one_percent_word(notes: list, folded: list[str]) -> tuple[str, int]:  # type: ignore[type-arg]
    """A word found (as a substring, as search matches) in about 1% of the notes."""
    df: Counter[str] = Counter()
    for note in notes:
        df.update({w for w in note.body.split() if w.isalpha() and len(w) >= 7})
    want = max(1, len(notes) // 100)
    for word, _ in sorted(df.items(), key=lambda kv: (abs(kv[1] - want), kv[0]))[:50]:
        hits = sum(1 for t in folded if word in t)
        if want * 0.7 <= hits <= want * 1.5:
            return word, hits
    word = min(df, key=lambda w: (abs(df[w] - want), w))
    return word, sum(1 for t in folded if word in t)


def unlock_in_steps(path: Path) -> tuple[float, float, Vault]:
    """`Vault.unlock`'s own steps, timed apart: the KDF (with the envelopes read meanwhile
    when there is no snapshot, as unlocking does) and everything after it. Timing the two in
    one call and subtracting a KDF timed separately gave noise larger than the work at 1,000
    notes (negative times)."""
    store = Store.open(path)
    tails = snapshot.path_in(path).exists()
    reader = Prefetch(store, envelopes=not tails, tails=tails)  # as Vault.unlock does
    reader.start()
    start = time.perf_counter()
    master_key = unlock_master_key(store, PASSWORD, None, None)
    kdf_done = time.perf_counter()
    reader.join()
    vault = Vault(store, master_key, reader.result or None, None, reader.scan)
    return kdf_done - start, time.perf_counter() - kdf_done, vault


def measure_times(n: int) -> dict[str, object]:
    path = sample_path(n)
    strong = strong_copy(path)
    store = Store.open(path)
    master_key = unlock_master_key(store, PASSWORD, None, None)
    vault_id = store.vault_id
    store.close()
    items_key = hashlib.blake2b(b"", digest_size=32, key=master_key, person=Label.ITEMS).digest()
    db_path = path / "store.sqlite"
    runs = 3 if n > 20_000 else 5
    r: dict[str, object] = {"n": n}

    r["decrypt_floor"] = timed(lambda: bare_decrypt_all(db_path, items_key, vault_id), runs)
    r["cp_floor"] = copy_floor(path, "cp")
    r["tar_floor"] = copy_floor(path, "tar")
    r["folder_bytes"] = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())

    # Unlocking behind the default KDF: the KDF alone, then everything after it, paired run
    # by run. Cold: no sealed snapshot (a first unlock, or after many changes elsewhere), so
    # every envelope is read during the KDF and decrypted after it. Warm: the snapshot that
    # locking a big vault seals (vault.sealing.snapshot), the usual case.
    kdfs, after, cold = [], [], []
    if not SMOKE:
        argon2id(PASSWORD.encode(), bytes(16), DEFAULT_KDF)  # the first run maps its memory
    with Vault.unlock(strong, password=PASSWORD) as v:
        v._save_snapshot(force=True)
    sealed = snapshot.path_in(strong).read_bytes() if snapshot.path_in(strong).exists() else b""
    for _ in range(1 if SMOKE else runs):
        for samples in (cold, after):
            if samples is cold:
                snapshot.path_in(strong).unlink(missing_ok=True)
            elif sealed:
                snapshot.path_in(strong).write_bytes(sealed)
            kdf, took, opened = unlock_in_steps(strong)
            samples.append(took)
            if samples is after:
                kdfs.append(kdf)
            opened._unsnapped = 0  # locking here must not reseal: the next run sets the file
            opened.lock()
    r["kdf"] = statistics.median(kdfs)
    r["unlock_after_kdf"] = statistics.median(after)
    r["unlock_after_kdf_cold"] = statistics.median(cold)
    r["snapshot_bytes"] = len(sealed)

    # The index: folding every note, which the first search (or the app's warm-up) does.
    index_times = []
    for _ in range(1 if SMOKE else min(runs, 3)):
        with Vault.unlock(path, password=PASSWORD) as v:
            start = time.perf_counter()
            v.filter_notes(v.notes(), NEVER)
            index_times.append(time.perf_counter() - start)
    r["index"] = statistics.median(index_times)

    vault = Vault.unlock(path, password=PASSWORD)
    notes = vault.notes()
    vault.filter_notes(notes, NEVER)
    folded = [fold(x.title) + "\n" + fold(x.body) for x in notes]
    rare, rare_hits = one_percent_word(notes, folded)
    common = Counter(w for x in notes[:200] for w in x.body.split() if len(w) >= 4).most_common(1)
    common_word = common[0][0]
    pair = notes[len(notes) // 2].body.split()[:2]
    tag = notes[0].tags[0]
    queries = [
        ("a word in ~1% of the notes", rare, [rare]),
        ("a common word", common_word, [common_word]),
        ("two words", f"{rare} {common_word}", [rare, common_word]),
        ("a phrase", f'"{pair[0]} {pair[1]}"', [f"{pair[0]} {pair[1]}"]),
        ("a tag and a word", f"tag:{tag} {common_word}", [common_word]),
    ]
    searches = []
    for label, text, terms in queries:
        start = time.perf_counter()
        vault.search(text)  # the first run of a query may do work later runs reuse
        first = time.perf_counter() - start
        took = timed(lambda text=text: vault.search(text), repeat=7)

        def scan(terms: list[str] = terms) -> None:
            [t for t in folded if all(term in t for term in terms)]

        searches.append(
            {
                "label": label,
                "query": text,
                "hits": len(vault.search(text)),
                "time": took,
                "first": first,
                "floor": timed(scan, repeat=5),
            }
        )
    r["searches"] = searches
    r["rare_hits"] = rare_hits

    # The list filter as the app uses it: the same list each keystroke, one letter more.
    per_key: list[float] = []
    for _ in range(1 if SMOKE else 3):
        for word in TYPED:
            vault.filter_notes(notes, NEVER)  # a fresh start for each word, as clearing does
            for i in range(1, len(word) + 1):
                start = time.perf_counter()
                vault.filter_notes(notes, word[:i], rank_limit=LIVE_RANK_LIMIT)
                per_key.append(time.perf_counter() - start)
    per_key.sort()
    r["filter_median"] = per_key[len(per_key) // 2]
    r["filter_worst"] = per_key[-1]

    def scan_typed() -> None:
        for word in TYPED:
            for i in range(1, len(word) + 1):
                term = word[:i]
                [t for t in folded if term in t]

    r["filter_floor"] = timed(scan_typed, repeat=3) / sum(len(w) for w in TYPED)

    # Open one note: the note as the CLI's `show` and the app's editor get it, from the
    # decrypted cache after checking the store for changes; and opened from the store afresh.
    note = notes[len(notes) // 3]
    r["open"] = timed(lambda: vault.note(note.id).body, repeat=50)
    row = vault.store.item(note.id)
    r["open_cold"] = timed(lambda: vault.open_op(vault.store.item(note.id)), 50)
    r["open_floor"] = timed(lambda: bare_open_one(db_path, items_key, vault_id, note.id), 50)

    # Save one note (fsync), against one SQLite insert + commit of the same envelope size.
    bodies = iter(f"edit {i}\n" + note.body for i in range(100))
    state = {"note": vault.note(note.id)}

    def save() -> None:
        state["note"] = vault.update_note(state["note"], body=next(bodies))

    r["save"] = timed(save, repeat=20)
    floor_db = WORK / f"floor-{n}.sqlite"
    floor_db.unlink(missing_ok=True)
    db = sqlite3.connect(floor_db, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE t (x TEXT)")
    blob = row.envelope if row is not None else ""

    def raw_insert() -> None:
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO t VALUES (?)", (blob,))
        db.execute("COMMIT")

    r["save_floor"] = timed(raw_insert, repeat=20)
    db.close()
    vault.lock()
    return r


def peak_rss() -> int:
    """Bytes: the process's high-water resident set. VmHWM where there is /proc, because on
    Linux ru_maxrss keeps the parent's peak across fork and exec; ru_maxrss elsewhere."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def measure_rss(n: int, strong: bool) -> dict[str, object]:
    """One session in a fresh process: unlock, search, filter, open, save; peak RSS after."""
    base = peak_rss()
    path = strong_copy(sample_path(n)) if strong else sample_path(n)
    vault = Vault.unlock(path, password=PASSWORD)
    notes = vault.notes()
    vault.search("garden")
    vault.search("tra mi")
    for i in range(1, 7):
        vault.filter_notes(notes, "garden"[:i], rank_limit=LIVE_RANK_LIMIT)
    note = vault.note(notes[0].id)
    vault.update_note(note, body=note.body + "\nedited\n")
    peak = peak_rss()
    vault.lock()
    return {"n": n, "base": base, "peak": peak}


# --- the report ------------------------------------------------------------------------------


def child(flag: str, n: int) -> dict:  # type: ignore[type-arg]
    result = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), flag, str(n)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        sys.stderr.write(result.stderr)
        raise SystemExit(f"bench_core.py {flag} {n} failed")
    return json.loads(result.stdout.strip().splitlines()[-1])


def cell(measured: float, floor: float) -> str:
    return f"{fmt(measured)} ({measured / floor:.1f}×)" if floor > 0 else fmt(measured)


def mib(n: float) -> str:
    return f"{n / 2**20:.0f} MiB"


def report() -> None:
    ns = sizes()
    for n in ns:
        print(f"  sample vault of {count(n)} notes ...", file=sys.stderr, flush=True)
        sample_vault(sample_path(n), n)
        strong_copy(sample_path(n))
    times, rss, rss_kdf = {}, {}, {}
    for n in ns:
        print(f"  measuring {count(n)} notes ...", file=sys.stderr, flush=True)
        times[n] = child("--time", n)
        rss[n] = child("--rss", n)
        rss_kdf[n] = child("--rss-strong", n)

    big = "".join(f"## Section {i}\n\n- item {i} with words\n\n" for i in range(2300))
    mine = big.replace("item 20 ", "item twenty ")
    theirs = big.replace("item 2000 ", "item two thousand ") + "appended\n"
    merge_time = timed(lambda: merge3(big, mine, theirs), repeat=5)
    diff_floor = timed(
        lambda: list(difflib.unified_diff(big.splitlines(), mine.splitlines())), repeat=5
    )

    heads = " | ".join(f"{count(n)} notes" for n in ns)
    print(f"## Core ({', '.join(count(n) for n in ns)} notes of ~1-3 KB Markdown)\n")
    print(
        "Sample vaults from `bench/common.py` (fixed seed: the same notes every run; 15 nested "
        "notebooks, 1-3 tags a note, bodies 1-3 KB). Each cell is the median time and, in "
        "brackets, its ratio to the floor named on its row, measured in the same run on the "
        "same vault. Searching is `Vault.search` (what `vault search` runs: ranked, all "
        "matches) with the index already built: the median of the same query repeated (a repeat "
        "may reuse the previous matches), and the slowest first run, which is what a one-off "
        "`vault search` costs; the list filter is `Vault.filter_notes` as "
        f"the app calls it per keystroke (same list, rank limit {LIVE_RANK_LIMIT}), typing "
        f"{', '.join(repr(w) for w in TYPED)} one letter at a time. Opening a note is "
        "`vault.note(id).body` (what `vault show` and the editor read: the decrypted cache, "
        "after a check that the store has not changed); cold is reading its envelope from "
        "the store and decrypting it again.\n"
    )
    lines = [f"| measurement | floor is | {heads} |", "|---|---|" + "---:|" * len(ns)]

    def row(label: str, floor_is: str, key: str, floor_key: str) -> None:
        cells = " | ".join(cell(times[n][key], times[n][floor_key]) for n in ns)
        lines.append(f"| {label} | {floor_is} | {cells} |")

    def add(n: int, a: str, b: str) -> float:
        return times[n][a] + times[n][b]

    kdf_cells = " | ".join(fmt(times[n]["kdf"]) for n in ns)
    lines.append(f"| KDF alone (Argon2id 256 MiB, t=3, p=2) | itself | {kdf_cells} |")
    row(
        "unlock after the KDF, cold: every envelope (no snapshot yet)",
        "bare decrypt loop",
        "unlock_after_kdf_cold",
        "decrypt_floor",
    )
    row(
        "unlock after the KDF: the sealed snapshot + what changed since",
        "bare decrypt loop",
        "unlock_after_kdf",
        "decrypt_floor",
    )
    row("index: fold every note (first search)", "bare decrypt loop", "index", "decrypt_floor")
    cells = " | ".join(
        cell(add(n, "unlock_after_kdf", "index"), times[n]["decrypt_floor"]) for n in ns
    )
    lines.append(f"| **unlock after the KDF, with the index** | bare decrypt loop | {cells} |")
    for i, search in enumerate(times[ns[0]]["searches"]):
        cells = " | ".join(
            cell(times[n]["searches"][i]["time"], times[n]["searches"][i]["floor"]) for n in ns
        )
        lines.append(f"| search: {search['label']} | substring scan, same terms | {cells} |")
    cells = " | ".join(
        cell(
            max(s["first"] for s in times[n]["searches"]),
            max(s["floor"] for s in times[n]["searches"]),
        )
        for n in ns
    )
    lines.append(
        f"| search: slowest first run of a query above | slowest substring scan | {cells} |"
    )
    row(
        "list filter, median keystroke",
        "substring scan per keystroke",
        "filter_median",
        "filter_floor",
    )
    row(
        "list filter, slowest keystroke",
        "substring scan per keystroke",
        "filter_worst",
        "filter_floor",
    )
    row("open one note", "bare read + decrypt of it", "open", "open_floor")
    row("open one note, cold", "bare read + decrypt of it", "open_cold", "open_floor")
    row("save one note (fsync)", "SQLite insert + commit, same size", "save", "save_floor")
    print("\n".join(lines))

    print("\n| floor | " + heads + " |\n|---|" + "---:|" * len(ns))
    for label, key in [
        ("bare decrypt loop (read + AEAD-open every envelope)", "decrypt_floor"),
        ("`cp -r` of the vault folder", "cp_floor"),
        ("`tar cf` of the vault folder", "tar_floor"),
    ]:
        print(f"| {label} | " + " | ".join(fmt(times[n][key]) for n in ns) + " |")
    for label, key in [
        ("unlock after the KDF with the index, against `cp -r`", "cp_floor"),
        ("unlock after the KDF with the index, against `tar cf`", "tar_floor"),
    ]:
        cells = " | ".join(
            f"{add(n, 'unlock_after_kdf', 'index') / times[n][key]:.1f}×" for n in ns
        )
        print(f"| {label} | {cells} |")
    folder = " | ".join(f"{times[n]['folder_bytes'] / 2**20:.1f} MiB" for n in ns)
    print(f"| vault folder size | {folder} |")
    sealed = " | ".join(f"{times[n]['snapshot_bytes'] / 2**20:.1f} MiB" for n in ns)
    print(f"| sealed snapshot (part of the folder when present) | {sealed} |")

    print(
        "\n| peak RSS (one session: unlock, 2 searches, 6 keystrokes, open, save) | " + heads + " |"
    )
    print("|---|" + "---:|" * len(ns))
    print(
        "| tiny test KDF (the notes' own memory) | "
        + " | ".join(mib(rss[n]["peak"]) for n in ns)
        + " |"
    )
    print(
        "| default KDF (Argon2id's 256 MiB, freed before the notes are decrypted) | "
        + " | ".join(mib(rss_kdf[n]["peak"]) for n in ns)
        + " |"
    )
    print(
        "| the interpreter with vault imported, before unlocking | "
        + " | ".join(mib(rss[n]["base"]) for n in ns)
        + " |"
    )
    first = times[ns[0]]["searches"]
    print(
        "\nQueries at each size: "
        + "; ".join(
            f"{s['label']}: `{times[n]['searches'][i]['query']}` ({count(times[n]['searches'][i]['hits'])} hits at {count(n)})"
            for i, s in enumerate(first)
            for n in ns[-1:]
        )
        + f". Three-way merge of a 90 KB note: {fmt(merge_time)} "
        f"({merge_time / diff_floor:.1f}× a difflib diff of the same pair)."
    )

    # The targets of the benchmark issue, at 10,000 notes (smoke: at the size measured).
    n = MAIN_SIZE if MAIN_SIZE in times else ns[min(len(ns) - 1, 1)]
    t = times[n]
    after = add(n, "unlock_after_kdf", "index")
    cold = add(n, "unlock_after_kdf_cold", "index")
    worst_search = max(max(s["time"], s["first"]) for s in t["searches"])
    targets = [
        (
            "unlock after the KDF (with the index) ≤ 2× the bare decrypt loop",
            f"{fmt(after)} = {after / t['decrypt_floor']:.1f}×",
            after <= 2 * t["decrypt_floor"],
        ),
        ("unlock after the KDF (with the index) < 0.5 s", fmt(after), after < 0.5),
        (
            "the same, cold (no snapshot: a first unlock) ≤ 2× the loop and < 0.5 s",
            f"{fmt(cold)} = {cold / t['decrypt_floor']:.1f}×",
            cold <= 2 * t["decrypt_floor"] and cold < 0.5,
        ),
        (
            "search < 30 ms (slowest query above, first run or median)",
            fmt(worst_search),
            worst_search < 0.03,
        ),
        ("save < 5 ms", fmt(t["save"]), t["save"] < 0.005),
        (
            "peak RSS < 200 MB (tiny KDF; see above for the default KDF)",
            mib(rss[n]["peak"]),
            rss[n]["peak"] < 200e6,
        ),
    ]
    print(f"\n### Targets at {count(n)} notes\n")
    print("| target | measured | met |\n|---|---:|---|")
    for what, measured, met in targets:
        print(f"| {what} | {measured} | {'yes' if met else '**no**'} |")


def main(argv: list[str]) -> None:
    if argv and argv[0] in ("--time", "--rss", "--rss-strong"):
        n = int(argv[1])
        if argv[0] == "--time":
            result = measure_times(n)
        else:
            result = measure_rss(n, strong=argv[0] == "--rss-strong")
        print(json.dumps(result))
        return
    report()


if __name__ == "__main__":
    main(sys.argv[1:])
