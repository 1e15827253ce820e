"""Bech32 checksums (BIP 173), the encoding of age keys: a mistyped recipient is refused where it is written.

age uses Bech32 without BIP 173's 90-character limit; this checks only the checksum and the alphabet.
"""

from __future__ import annotations

_ALPHABET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_GENERATOR = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)


def _polymod(values: list[int]) -> int:
    check = 1
    for value in values:
        top = check >> 25
        check = (check & 0x1FFFFFF) << 5 ^ value
        for bit, generator in enumerate(_GENERATOR):
            if (top >> bit) & 1:
                check ^= generator
    return check


def checksum_ok(text: str) -> bool:
    """True when `text` is Bech32 (`<prefix>1<data>`, one case) and its six-character checksum matches."""
    if text not in (text.lower(), text.upper()):
        return False
    prefix, separator, data = text.lower().rpartition("1")
    if not separator or not prefix or len(data) < 6 or any(ch not in _ALPHABET for ch in data):
        return False
    expanded = [ord(ch) >> 5 for ch in prefix] + [0] + [ord(ch) & 31 for ch in prefix]
    return _polymod(expanded + [_ALPHABET.index(ch) for ch in data]) == 1
