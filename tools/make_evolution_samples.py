#!/usr/bin/env python3
"""Writes the format-evolution conformance vectors (SPEC.md §10) from
samples/golden-siren.nif, using nothing but the standard library:

  samples/evolution-optional-section.nif   version 1.4: HEAD carries 4 bytes more than
      1.3 defines, and an optional section `xtra` sits between NETW and WGTS.  A 1.3
      decoder must decode it exactly like golden-siren.nif.
  samples/evolution-required-section.nif   version 1.4 with a required section `FUTR`
      a 1.3 decoder does not know: it must refuse the file ("unknown required section").

(A decoder must read a HEAD of its own minor at its exact size, so the vectors move to
the next minor with every new one: 1.2 files until format 1.2, 1.3 until format 1.3.)

  tools/make_evolution_samples.py [--check] [SAMPLES_DIR]

--check writes nothing and exits 1 unless the committed files are what this script makes
(a CTest test runs it).
"""
import struct
import sys
import zlib
from pathlib import Path

MAGIC = b"\x89NIF\r\n\x1a\n"


def crc(data: bytes) -> int:
    # SPEC.md §3: the CRC-32 of PNG and zlib.
    return zlib.crc32(data) & 0xFFFFFFFF


def split(nif: bytes):
    """The preamble fields and the (tag, data) sections of a .nif file (SPEC.md §2, §3)."""
    assert nif[:8] == MAGIC, "not a .nif file"
    assert struct.unpack_from("<I", nif, 12)[0] == crc(nif[:12]), "preamble checksum"
    sections, pos = [], 16
    while pos < len(nif):
        (length,) = struct.unpack_from("<I", nif, pos)
        tag, data = nif[pos + 4:pos + 8], nif[pos + 8:pos + 8 + length]
        assert struct.unpack_from("<I", nif, pos + 8 + length)[0] == crc(tag + data)
        sections.append((tag, data))
        pos += 12 + length
    return nif[8], nif[9], sections


def join(major: int, minor: int, sections) -> bytes:
    head = MAGIC + bytes([major, minor, 0, 0])
    out = bytearray(head + struct.pack("<I", crc(head)))
    for tag, data in sections:
        out += struct.pack("<I", len(data)) + tag + data + struct.pack("<I", crc(tag + data))
    return bytes(out)


def insert_before(sections, before: bytes, tag: bytes, data: bytes):
    i = [t for t, _ in sections].index(before)
    return sections[:i] + [(tag, data)] + sections[i:]


def make(golden: bytes):
    major, minor, sections = split(golden)
    assert (major, minor) == (1, 0), "golden-siren.nif should be a 1.0 file"
    # 1.4 with what a 1.3 decoder must ignore: a longer HEAD (§3 rule 5) and an unknown
    # optional section (§3 rule 3).
    optional = [(t, d + b"\x01\x02\x03\x04" if t == b"HEAD" else d) for t, d in sections]
    optional = insert_before(optional, b"WGTS", b"xtra",
                             b"nifc 1.4 sample: an optional section 1.3 decoders skip")
    # 1.4 with an unknown required section: a 1.3 decoder must refuse it.
    required = insert_before(sections, b"IEND", b"FUTR", struct.pack("<II", 2, 2))
    return {
        "evolution-optional-section.nif": join(1, 4, optional),
        "evolution-required-section.nif": join(1, 4, required),
    }


def main(argv):
    check = "--check" in argv
    args = [a for a in argv if a != "--check"]
    samples = Path(args[0]) if args else Path(__file__).resolve().parent.parent / "samples"
    files = make((samples / "golden-siren.nif").read_bytes())
    stale = []
    for name, data in files.items():
        path = samples / name
        if check:
            if not path.is_file() or path.read_bytes() != data:
                stale.append(name)
        else:
            path.write_bytes(data)
            print(f"{path}: {len(data)} bytes")
    if stale:
        print("out of date (run tools/make_evolution_samples.py): " + ", ".join(stale),
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
