"""A pure-Python stand-in for ``pyhdrh``, the C extension of the ``hdrhistogram`` package (``hdrh``).

The load harness's Lambda zip ships ``hdrh``'s Python files (Apache-2.0, unchanged) and this module in
place of the extension, whose build is tied to one CPython version and machine (the project's venv),
while AWS Lambda's ``python3.13`` runtime may run on another (x86_64 or arm64), and has no ``hdrh``.
It has the extension's three functions, over the same raw counter arrays (addresses from ``ctypes``):
the V2 encoding of HdrHistogram (ZigZag LEB128 varints, a run of N > 1 empty buckets written as -N), so
what it encodes the extension decodes (tests/unit/test_fanout.py checks both directions).
"""

import ctypes

_COUNTER_TYPES = {2: ctypes.c_uint16, 4: ctypes.c_uint32, 8: ctypes.c_uint64}


def _counts(address, length, word_size):
    return (_COUNTER_TYPES[word_size] * length).from_address(address)


def _zigzag_varint(value):
    """ZigZag then LEB128, at most 9 bytes (the 9th holds a full 8 bits), as HdrHistogram's ``putLong``."""
    value = ((value << 1) ^ (value >> 63)) & 0xFFFFFFFFFFFFFFFF
    out = bytearray()
    while len(out) < 8 and value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value & 0xFF)
    return out


def encode(src_address, counts_limit, word_size, dst_address, dst_len):
    """Encode the first ``counts_limit`` counters at ``src_address`` into ``dst_address``; returns the
    number of bytes written. Raises ``ValueError`` if they do not fit in ``dst_len``."""
    counts = _counts(src_address, counts_limit, word_size)
    out = bytearray()
    index = 0
    while index < counts_limit:
        count = counts[index]
        index += 1
        zeros = 0
        if count == 0:
            zeros = 1
            while index < counts_limit and counts[index] == 0:
                zeros += 1
                index += 1
        out += _zigzag_varint(-zeros if zeros > 1 else count)
    if len(out) > dst_len:
        raise ValueError(f"encoded counts need {len(out)} bytes, {dst_len} available")
    ctypes.memmove(dst_address, bytes(out), len(out))
    return len(out)


def decode(data, offset, counts_address, counts_len, word_size):
    """Decode the varints of ``data`` from ``offset`` into the counters at ``counts_address``; returns
    ``{"total", "min_nonzero_index", "max_nonzero_index"}``."""
    counts = _counts(counts_address, counts_len, word_size)
    data = bytes(data)
    position, index, total = offset, 0, 0
    min_index, max_index = -1, 0
    while position < len(data) and index < counts_len:
        value, shift, read = 0, 0, 0
        while True:
            byte = data[position]
            position += 1
            read += 1
            if read == 9:
                value |= byte << shift
                break
            value |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80 or position >= len(data):
                break
        value = (value >> 1) ^ -(value & 1)
        if value < 0:
            index += -value
            continue
        if value:
            counts[index] = value
            total += value
            if min_index < 0:
                min_index = index
            max_index = index
        index += 1
    return {"total": total, "min_nonzero_index": max(min_index, 0), "max_nonzero_index": max_index}


def add_array(dst_address, src_address, counts_len, word_size):
    """Add the counters at ``src_address`` to those at ``dst_address``, bucket by bucket; returns the
    total added."""
    destination = _counts(dst_address, counts_len, word_size)
    source = _counts(src_address, counts_len, word_size)
    total = 0
    for index in range(counts_len):
        count = source[index]
        if count:
            destination[index] += count
            total += count
    return total
