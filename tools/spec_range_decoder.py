#!/usr/bin/env python3
"""An independent reading of SPEC.md §6.5 (WGTS compression 2), written from the spec's
text alone, with the standard library only.  It decodes the range-coded levels of a
.nif file and checks what the spec requires of the stream: the first byte is 0, every
level is within the bit width's range, and the decoder ends exactly on the last byte.
A mismatch between this reading and the C++ coder would desynchronise the decoder
and fail those checks (a CTest test runs it on samples/golden-grid-rc.nif).

  tools/spec_range_decoder.py FILE.nif     prints per-tensor level statistics
"""
import struct
import sys


def sections(data: bytes):
    """The (tag, data) sections of an untiled file (SPEC.md §2, §3; CRCs not checked)."""
    assert data[:8] == b"\x89NIF\r\n\x1a\n", "not a .nif file"
    out, pos = {}, 16
    while pos < len(data):
        (length,) = struct.unpack_from("<I", data, pos)
        out[data[pos + 4:pos + 8].decode()] = data[pos + 8:pos + 8 + length]
        pos += 12 + length
    return out


def tensor_layout(s):
    """(planes, rows, cols, context set) per tensor, in WGTS order (§6.2, §6.5)."""
    netw, head = s["NETW"], s["HEAD"]
    channels = head[8]
    encoding, n_hidden = netw[0], netw[2]
    widths = [struct.unpack_from("<H", netw, 28 + 2 * i)[0] for i in range(n_hidden)]
    grid = []
    if encoding == 3:  # §6.4
        g = s["GRID"]
        levels, cg = g[0], g[1]
        grid = [(cg,) + struct.unpack_from("<II", g, 4 + 8 * k)[::-1] for k in range(levels)]
        inputs = levels * cg
    else:
        raise SystemExit("this reader handles grid files only (the reference writes "
                         "compression 2 for those)")
    layout = []
    ins, outs = [inputs] + widths, widths + [channels]
    for i, o in zip(ins, outs):
        layout += [(1, 1, i * o, 0), (1, 1, o, 0)]
    layout += [(cg, h, w, 1 + k) for k, (cg, h, w) in enumerate(grid)]
    return layout


class RangeDecoder:
    """§6.5 "Range decoder"."""

    def __init__(self, stream: bytes):
        if len(stream) < 5 or stream[0] != 0:
            raise ValueError("corrupt: short stream or first byte not 0")
        self.stream, self.pos = stream, 5
        self.code, self.range = int.from_bytes(stream[1:5], "big"), 0xFFFFFFFF

    def next_byte(self):
        b = self.stream[self.pos] if self.pos < len(self.stream) else 0
        self.pos += 1
        return b

    def bit(self, p0):
        bound = (self.range >> 16) * p0
        if self.code < bound:
            self.range, bit = bound, 0
        else:
            self.code, self.range, bit = self.code - bound, self.range - bound, 1
        while self.range < (1 << 24):
            self.range = (self.range << 8) & 0xFFFFFFFF
            self.code = ((self.code << 8) | self.next_byte()) & 0xFFFFFFFF
        return bit


class Context:
    """§6.5 "Probabilities": two estimates of P(0) in units of 2^-16."""

    def __init__(self):
        self.f = self.s = 32768

    def decode(self, rd):
        bit = rd.bit((self.f + self.s) // 2)
        if bit == 0:
            self.f += (65536 - self.f) // 16
            self.s += (65536 - self.s) // 128
        else:
            self.f -= self.f // 16
            self.s -= self.s // 128
        return bit


def activity_class(a):
    return a if a <= 6 else 7 if a <= 9 else 8 if a <= 15 else 9 if a <= 31 else 10


def decode_levels(stream: bytes, layout, limit, on_tensor=None, decoder=RangeDecoder):
    """The levels of every tensor of `layout`.  on_tensor(i), when given, is called before
    tensor i is decoded; `decoder` is the range decoder's class (a subclass may observe
    the bits; tools/rd/latent_entropy.py counts their cost)."""
    rd, contexts = decoder(stream), {}

    def ctx(*key):
        return contexts.setdefault(key, Context())

    tensors = []
    for index, (planes, rows, cols, cset) in enumerate(layout):
        if on_tensor is not None:
            on_tensor(index)
        levels = [0] * (planes * rows * cols)
        for p in range(planes):
            base = p * rows * cols

            def level(r, c):
                return levels[base + r * cols + c] if r >= 0 and 0 <= c < cols else 0

            def mag(r, c):
                return abs(level(r, c))

            def sign(r, c):
                q = level(r, c)
                return 0 if q == 0 else 1 if q > 0 else 2

            for r in range(rows):
                for c in range(cols):
                    a = mag(r, c - 1) + mag(r - 1, c) + (mag(r - 1, c - 1) + mag(r - 1, c + 1)) // 2
                    A = activity_class(a)
                    if not ctx(cset, "Z", A).decode(rd):
                        continue
                    G = 3 * sign(r, c - 1) + sign(r - 1, c)
                    negative = ctx(cset, "S", G).decode(rd)
                    e = 0
                    while e < 14 and ctx(cset, "E", A, e).decode(rd):
                        e += 1
                    m = 1
                    if e >= 1:
                        m = (m << 1) | ctx(cset, "M", e).decode(rd)
                        for _ in range(e - 1):
                            m = (m << 1) | rd.bit(32768)
                    if m > limit:
                        raise ValueError("corrupt: level %d beyond %d" % (m, limit))
                    levels[base + r * cols + c] = -m if negative else m
        tensors.append(levels)
    if rd.pos != len(stream):
        raise ValueError("corrupt: decoder ended at byte %d of %d" % (rd.pos, len(stream)))
    return tensors


def main(argv):
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    s = sections(open(argv[0], "rb").read())
    wgts = s["WGTS"]
    bits, compression = wgts[0], wgts[1]
    if compression != 2:
        print("%s: WGTS compression %d, not 2" % (argv[0], compression), file=sys.stderr)
        return 1
    layout = tensor_layout(s)
    stream = wgts[4 + 4 * len(layout):]
    tensors = decode_levels(stream, layout, (1 << (bits - 1)) - 1)
    for (planes, rows, cols, cset), levels in zip(layout, tensors):
        nonzero = sum(1 for q in levels if q)
        print("set %2d  %d x %d x %d  nonzero %d  max |q| %d" %
              (cset, planes, rows, cols, nonzero, max(abs(q) for q in levels)))
    print("%s: %d levels in %d bytes, stream ends exactly" %
          (argv[0], sum(len(t) for t in tensors), len(stream)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
