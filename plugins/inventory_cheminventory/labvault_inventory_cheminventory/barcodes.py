"""The barcodes seen so far in one file, in little memory (12 bytes a slot, not the
~100 of a ``dict``), so that a million-row export is checked for duplicates without
holding its barcodes.

An open-addressing hash table of 64-bit hashes of the barcodes and the row each was
on. Two different barcodes share a hash with a chance of about n²/2⁶⁵ (3·10⁻⁸ for a
million rows); the second would then be reported as a duplicate of the first.
"""

from __future__ import annotations

from array import array

_MASK = (1 << 64) - 1


class SeenBarcodes:
    def __init__(self, capacity: int = 1024) -> None:
        self._size = 0
        self._allocate(capacity)

    def _allocate(self, capacity: int) -> None:
        self._mask = capacity - 1
        self._keys = array("Q", bytes(8 * capacity))  # 0: an empty slot
        self._rows = array("I", bytes(4 * capacity))

    def first_row(self, barcode: str, row: int) -> int | None:
        """The row ``barcode`` was on before, or None (and it is now on ``row``)."""
        key = (hash(barcode) & _MASK) or 1
        slot = self._probe(key)
        if self._keys[slot]:
            return self._rows[slot]
        self._keys[slot] = key
        self._rows[slot] = row
        self._size += 1
        if 4 * self._size > 3 * (self._mask + 1):
            self._grow()
        return None

    def _probe(self, key: int) -> int:
        keys, mask = self._keys, self._mask
        slot = key & mask
        while keys[slot] and keys[slot] != key:
            slot = (slot + 1) & mask
        return slot

    def _grow(self) -> None:
        keys, rows = self._keys, self._rows
        self._allocate(2 * len(keys))
        for key, row in zip(keys, rows, strict=True):
            if key:
                slot = self._probe(key)
                self._keys[slot] = key
                self._rows[slot] = row
