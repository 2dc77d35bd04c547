"""Avro single-object encoding framing: ``C3 01`` + 8-byte CRC-64-AVRO fingerprint + body.

No library in our dependencies writes this framing, so it lives here, in a dozen lines.
See https://avro.apache.org/docs/1.12.0/specification/#single-object-encoding
"""

from __future__ import annotations

MARKER = b"\xc3\x01"
FINGERPRINT_SIZE = 8
HEADER_SIZE = len(MARKER) + FINGERPRINT_SIZE


def is_single_object(data: bytes) -> bool:
    """Whether the bytes start with the single-object marker."""
    return data[:2] == MARKER


def header(fingerprint: bytes) -> bytes:
    """The 10-byte prefix for a schema's fingerprint (8 bytes, little-endian)."""
    if len(fingerprint) != FINGERPRINT_SIZE:
        raise ValueError(f"a CRC-64-AVRO fingerprint has 8 bytes, got {len(fingerprint)}")
    return MARKER + fingerprint


def fingerprint_of(data: bytes) -> bytes:
    """The fingerprint in a single-object header; the caller checked the marker and length."""
    return data[len(MARKER) : HEADER_SIZE]
