"""A rough password strength estimate, for the hint shown when a vault is created.

It estimates guesses from length and character variety, and discounts what attackers try
first (common words, repeats, sequences). It is a hint, not a gate: the KDF does the heavy work.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

_COMMON = {
    "password",
    "passw0rd",
    "123456",
    "12345678",
    "123456789",
    "qwerty",
    "letmein",
    "welcome",
    "admin",
    "iloveyou",
    "monkey",
    "dragon",
    "master",
    "secret",
    "abc123",
    "football",
    "vault",
    "notes",
    "sunshine",
    "princess",
    "trustno1",
    "azerty",
    "000000",
    "111111",
}
LABELS = ("very weak", "weak", "fair", "strong", "very strong")


@dataclass(frozen=True)
class Strength:
    score: int  # 0..4
    bits: float
    hint: str

    @property
    def label(self) -> str:
        return LABELS[self.score]


def estimate(password: str) -> Strength:
    if not password:
        return Strength(0, 0.0, "type a password")
    pool = 0
    if re.search(r"[a-z]", password):
        pool += 26
    if re.search(r"[A-Z]", password):
        pool += 26
    if re.search(r"[0-9]", password):
        pool += 10
    if re.search(r"[^A-Za-z0-9]", password):
        pool += 33
    bits = len(password) * math.log2(max(pool, 2))
    lowered = password.lower()
    if lowered in _COMMON or any(word in lowered for word in _COMMON if len(word) >= 6):
        bits = min(bits, 15)
    if len(set(password)) <= max(2, len(password) // 4):
        bits /= 2  # mostly repeats
    if re.fullmatch(r"(?:0123456789|abcdefghijklmnopqrstuvwxyz)+", lowered[:10].ljust(1)):
        bits /= 2
    words = len(password.split())
    if words >= 4:
        bits = max(bits, 44.0)  # a passphrase of several words
    score = 0 if bits < 28 else 1 if bits < 40 else 2 if bits < 60 else 3 if bits < 80 else 4
    hints = {
        0: "far too easy to guess; use a passphrase of four or more random words",
        1: "easy to guess; make it longer (a few random words work well)",
        2: "fair; a longer passphrase would be safer",
        3: "good",
        4: "excellent",
    }
    return Strength(score, bits, hints[score])
