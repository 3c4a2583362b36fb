"""Reading files into line frames: the lines are exactly what a plain decode-and-split
gives, whatever the bytes, the chunk size, the start offset or the compression."""

from __future__ import annotations

import gzip
import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.ingest.files import _lines_frame, iter_chunks

REPLACEMENT = "\ufffd"

# bytes that matter to splitting and decoding: newlines, CR, NUL, multi-byte and broken UTF-8,
# a U+FFFD already in the text, and runs long enough to cross small chunks
PIECES = [
    b"a",
    b" ",
    b"\n",
    b"\r",
    b"\r\n",
    b"\x00",
    "é".encode(),
    "日".encode(),
    b"\xff",
    b"\xc3",
    REPLACEMENT.encode(),
    b"x" * 30,
]
some_bytes = st.lists(st.sampled_from(PIECES), max_size=120).map(b"".join)
fuzz = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def expected_lines(body: bytes) -> tuple[list[str], int, int]:
    """The reference: Python's decoder, NULs marked, split at newlines, CR-LF taken as one."""
    text = body.decode("utf-8", errors="replace")
    replaced = text.count(REPLACEMENT) - body.count(REPLACEMENT.encode())
    nuls = text.count("\x00")
    text = text.replace("\x00", REPLACEMENT)
    if text.endswith("\n"):
        text = text[:-1]
    return [line.removesuffix("\r") for line in text.split("\n")], replaced, nuls


@fuzz
@given(some_bytes.filter(bool), st.integers(1, 10**6))
def test_a_chunk_splits_like_python(body, first_line):
    frame, replaced, nuls = _lines_frame(bytearray(body), first_line)
    lines, expected_replaced, expected_nuls = expected_lines(body)
    assert frame["line"].to_list() == lines
    assert frame["line_no"].to_list() == list(range(first_line, first_line + len(lines)))
    assert (replaced, nuls) == (expected_replaced, expected_nuls)


@fuzz
@given(some_bytes, st.sampled_from([5, 16, 64, 1 << 20]), st.booleans(), st.floats(0, 1))
def test_chunks_cover_the_file_line_by_line(tmp_path_factory, content, chunk_bytes, compressed, start_at):
    path = tmp_path_factory.mktemp("read") / ("app.log.gz" if compressed else "app.log")
    if compressed:
        with gzip.open(path, "wb") as fh:
            fh.write(content)
    else:
        path.write_bytes(content)
    # a resumed read starts where a line starts (what a segment commit records)
    starts = [0] + [i + 1 for i, byte in enumerate(content) if byte == 10]
    start = starts[int(start_at * (len(starts) - 1))]
    rest = content[start:]

    chunks = list(iter_chunks(path, compressed=compressed, start_offset=start, start_line=7, chunk_bytes=chunk_bytes))

    if not rest:
        assert all(c.frame.height == 0 for c in chunks)
        return
    assert chunks[-1].final and not any(c.final for c in chunks[:-1])
    assert chunks[0].start_offset == start and chunks[-1].end_offset == len(content)
    for before, after in itertools.pairwise(chunks):
        assert before.end_offset == after.start_offset  # nothing skipped, nothing read twice
    assert b"".join(bytes(c.body) for c in chunks) == rest
    lines = [line for c in chunks for line in c.frame["line"].to_list()]
    assert lines == expected_lines(rest)[0]
    numbers = [n for c in chunks for n in c.frame["line_no"].to_list()]
    assert numbers == list(range(7, 7 + len(lines)))
