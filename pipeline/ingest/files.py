"""Finding input files and reading them in bounded chunks of whole lines.

Reading is byte-oriented: a chunk is a block of at most ``chunk_bytes`` cut at
its last newline, checked as UTF-8 (invalid bytes become U+FFFD and are counted
so the summary can warn) and split into lines where numpy finds the newlines,
without a copy of the text.  Memory is bounded by the chunk size whatever the
file size.  ``.gz`` files are decompressed on the fly
(detected by magic bytes).

A line longer than ``max_line_bytes`` (default 1 MiB) is kept cut to that many bytes
and marked `` …[truncated: N bytes]`` (N: its whole length, newline excluded).  A line
longer than a chunk is not gathered to be cut: its first bytes are kept and the rest is
read block by block up to its newline and dropped, so a 200 MB line without a newline
costs no more memory than a chunk.

polars is imported by the functions that make frames, not with this module:
finding files and telling whether they changed needs none of it, so an ingest
that finds every file unchanged starts without its 0.1 s import.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import queue
import stat
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # for annotations only (see the note on imports above)
    import polars as pl

# What a run reads at a time (all the files it reads at once together: see
# pipeline.ingest.runner).  Each chunk's parse, classification, redaction and insert has a
# fixed part of about 7 ms (some 40 polars queries, the regexes they compile, DuckDB's bind),
# whatever its size.  Measured in alternating pairs, one lane, 8 MB against 4 MB: four 198
# MB application logs 10.35 against 11.33 s (five pairs, 7% less CPU), the 200 MB bench's
# four 40 MB ones 2.67 against 2.84 s (six pairs); peak RSS 627 against 508 MB and 542
# against 459.  (When parsing cost more per row, 6 MB was not faster than 4.)
DEFAULT_CHUNK_BYTES = 8 * 1024 * 1024
HEAD_BYTES = 4096  # identity of a file: the md5 of its first bytes
DEFAULT_MAX_LINE_BYTES = 1024 * 1024  # longer lines are stored cut to this length, marked
SNIFF_BYTES = 64 * 1024
SNIFF_LINES = 200
GZIP_MAGIC = b"\x1f\x8b"
REPLACEMENT = "\ufffd".encode("utf-8")  # what stands for invalid UTF-8 and NUL bytes
TRUNCATED = " \u2026[truncated: {} bytes]"  # appended to a line cut to max_line_bytes

# Files in an input tree that are never logs.
IGNORED_NAMES = {"pipeline.toml", ".DS_Store"}
IGNORED_SUFFIXES = (".duckdb", ".duckdb.wal", ".duckdb.lock", ".parquet")


@dataclass
class Discovered:
    path: Path
    problem: str | None = None  # set when the path cannot be read at all
    skipped: str | None = None  # set for what is deliberately not read (a FIFO, a device)


def discover(paths: list[str | Path]) -> Iterator[Discovered]:
    """Every file under ``paths`` (recursively), sorted, each once, by its real path.

    A file is named by its real path (symlinks resolved), so a folder given once
    through a symlink and once directly is the same folder, not twice the logs.
    Directory symlinks inside a folder are not followed (no loops); file symlinks
    are read.  Unreadable entries are yielded with a ``problem``, special files
    (FIFOs, devices, sockets: reading them would block or never end) with
    ``skipped``, instead of raising or vanishing.
    """
    seen: set[Path] = set()
    for given in paths:
        root = Path(given)
        if not root.exists() and not root.is_symlink():
            yield Discovered(root, "no such file or directory")
            continue
        if root.is_file() or _is_special(root):
            candidates = [root]
        elif root.is_dir():
            candidates = []
            errors: list[OSError] = []
            for folder, dirs, files in os.walk(root, followlinks=False, onerror=errors.append):
                dirs[:] = sorted(d for d in dirs if not d.startswith(".pipeline-staging"))
                candidates.extend(Path(folder) / name for name in sorted(files))
            for err in errors:
                yield Discovered(Path(err.filename or root), f"cannot list folder: {err.strerror}")
        else:
            yield Discovered(root, "not a regular file (broken link or special file)")
            continue
        for path in candidates:
            if path.name in IGNORED_NAMES or path.name.endswith(IGNORED_SUFFIXES):
                continue
            if path.name.startswith(".") and path.name.endswith(".lock"):
                continue
            try:
                resolved = path.resolve(strict=True)
            except (OSError, RuntimeError) as exc:  # broken link, link loop
                yield Discovered(path.absolute(), f"cannot resolve path: {exc}")
                continue
            if resolved in seen:
                continue
            seen.add(resolved)
            if _is_special(resolved):
                yield Discovered(resolved, skipped=f"not a regular file ({_special_kind(resolved)}): not read")
            elif resolved.is_file():
                yield Discovered(resolved)


def _is_special(path: Path) -> bool:
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISSOCK(mode)


def _special_kind(path: Path) -> str:
    mode = path.stat().st_mode
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a device"


def is_gzip(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == GZIP_MAGIC


def head_md5(path: Path, length: int) -> str:
    with open(path, "rb") as fh:
        return hashlib.md5(fh.read(length)).hexdigest()


def open_text_stream(path: Path, compressed: bool) -> io.BufferedIOBase:
    """A binary stream of the file's (uncompressed) bytes."""
    return gzip.open(path, "rb") if compressed else open(path, "rb")


def read_head(path: Path, compressed: bool) -> tuple[bytes, str | None]:
    """Up to SNIFF_BYTES of the uncompressed content, and a problem if unreadable."""
    try:
        with open_text_stream(path, compressed) as fh:
            return fh.read(SNIFF_BYTES), None
    except (OSError, EOFError, zlib.error) as exc:
        return b"", f"cannot read: {exc}"


def head_lines(data: bytes) -> list[str]:
    text = data.decode("utf-8", errors="replace")
    lines = text.split("\n")
    if len(data) >= SNIFF_BYTES and len(lines) > 1:
        lines = lines[:-1]  # last one is probably cut
    return [ln.rstrip("\r") for ln in lines[:SNIFF_LINES] if ln.strip()]


def looks_binary(data: bytes) -> bool:
    """NUL bytes or mostly non-text: not a log (a few stray bytes are tolerated)."""
    if not data:
        return False
    sample = data[:8192]
    if sample.count(b"\x00") > len(sample) // 100:
        return True
    control = sum(1 for b in sample if b < 9 or 13 < b < 32)
    return control > len(sample) // 10


@dataclass
class Chunk:
    frame: pl.DataFrame  # line_no, line
    start_offset: int  # byte offset (uncompressed) of the first line
    end_offset: int  # byte offset just past the last line
    final: bool
    replaced_chars: int  # U+FFFD produced by invalid UTF-8 in this chunk
    nul_lines: int
    body: bytes | bytearray = b""  # the chunk's bytes, to find where a line starts
    truncated: int = 0  # lines longer than max_line_bytes, stored cut (see TRUNCATED)

    @property
    def first_line(self) -> int:
        return int(self.frame["line_no"][0]) if self.frame.height else 0

    @property
    def ends_inside_a_line(self) -> bool:
        """The chunk's last line has no newline yet (the end of a file still written)."""
        return bool(self.frame.height) and not self.body.endswith(b"\n")

    def offsets_from(self, line_no: int) -> list[int]:
        """Byte offsets (in the file) where each line from ``line_no`` to the chunk's end starts."""
        k = line_no - self.first_line
        if not 0 <= k < self.frame.height:
            raise ValueError(f"line {line_no} is not in this chunk")
        first = self.offset_of_line(line_no)
        if self.frame.height - k > 1000:  # a long event in progress: no Python loop over its lines
            import numpy as np

            ends = np.flatnonzero(np.frombuffer(self.body, dtype=np.uint8)[first - self.start_offset :] == 10)
            more = (ends[: self.frame.height - k - 1] + 1 + first).tolist()
            return [first, *more]
        offsets = [first]
        pos = self.body.find(b"\n", first - self.start_offset)
        while pos >= 0 and len(offsets) < self.frame.height - k:
            offsets.append(self.start_offset + pos + 1)
            pos = self.body.find(b"\n", pos + 1)
        return offsets

    def offset_of_line(self, line_no: int) -> int:
        """Byte offset (in the file) where line ``line_no`` of this chunk starts."""
        k = line_no - self.first_line
        if not 0 <= k < self.frame.height:
            raise ValueError(f"line {line_no} is not in this chunk")
        if k == 0:
            return self.start_offset
        after = self.frame.height - k  # lines from line_no to the chunk's end
        if after <= 1000:  # the usual case: the event in progress is a few lines long
            # walk back over the newlines ending the lines before line_no's successors
            pos = len(self.body) - 1 if self.body.endswith(b"\n") else len(self.body)
            for _ in range(after):
                pos = self.body.rfind(b"\n", 0, pos)
            return self.start_offset + pos + 1
        import numpy as np

        newlines = np.flatnonzero(np.frombuffer(self.body, dtype=np.uint8) == 10)
        return self.start_offset + int(newlines[k - 1]) + 1


def iter_chunks(
    path: Path,
    *,
    compressed: bool,
    start_offset: int = 0,
    start_line: int = 1,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
) -> Iterator[Chunk]:
    """Whole-line chunks of the file from ``start_offset``.

    The final chunk includes a last line without a trailing newline.  A line longer
    than ``max_line_bytes`` is cut to that length and marked (see the module's note);
    one longer than a chunk comes alone in a chunk of its own, whose offsets still
    span its whole length in the file.  Raises OSError/EOFError/zlib.error for
    unreadable or truncated input; the caller turns that into a reject and keeps
    what was read before.
    """
    # a plain file is read straight into the chunk's buffer (no copy of its bytes
    # in Python); a .gz in pieces (see _read_block)
    with open_text_stream(path, True) if compressed else open(path, "rb", buffering=0) as fh:
        if start_offset:
            if compressed:
                _skip(fh, start_offset)
            else:
                fh.seek(start_offset)
        offset = start_offset
        line_no = start_line
        carry = b""
        yielded = False
        while True:
            if compressed:
                block, error = _read_block(fh, chunk_bytes)
                data = bytearray(carry + block)
                got = len(block)
            else:
                data, got, error = _read_into(fh, carry, chunk_bytes)
            at_eof = error is not None or got < chunk_bytes  # reads only come up short at EOF
            if not data:
                if yielded:  # the previous chunk ended exactly at EOF: say the file is done
                    import polars as pl

                    empty = pl.DataFrame(schema={"line_no": pl.Int64, "line": pl.Utf8})
                    yield Chunk(empty, offset, offset, True, 0, 0)
                return
            if at_eof:
                carry = b""
            else:
                cut = data.rfind(b"\n")
                if cut < 0 and len(data) > max_line_bytes:
                    # one line longer than the limit and than a chunk: keep its head, drop
                    # the rest as it is read (never the whole line in memory)
                    chunk, carry, error = _long_line(fh, compressed, data, offset, line_no, chunk_bytes, max_line_bytes)
                    del data
                    yield chunk
                    yielded = True
                    offset, line_no = chunk.end_offset, line_no + 1
                    if error is not None:  # what came after the line, then the damage
                        if carry:
                            cut_lines: list[int] = []
                            frame, replaced, nul_lines = _lines_frame(
                                bytearray(carry), line_no, max_line_bytes=max_line_bytes, cut=cut_lines
                            )
                            yield Chunk(
                                frame, offset, offset + len(carry), True, replaced, nul_lines, carry, len(cut_lines)
                            )
                        raise error
                    if chunk.final:
                        return
                    continue
                if cut < 0:  # one line longer than a chunk: keep reading
                    carry = bytes(data)
                    continue
                carry = bytes(data[cut + 1 :])
                del data[cut + 1 :]  # in place: the buffer keeps its memory, nothing is copied
            cut_lines = []
            frame, replaced, nul_lines = _lines_frame(data, line_no, max_line_bytes=max_line_bytes, cut=cut_lines)
            yield Chunk(
                frame=frame,
                start_offset=offset,
                end_offset=offset + len(data),
                final=at_eof,
                replaced_chars=replaced,
                nul_lines=nul_lines,
                body=data,
                truncated=len(cut_lines),
            )
            yielded = True
            offset += len(data)
            line_no += frame.height
            if error is not None:
                raise error  # after handing over everything read before the damage
            if at_eof:
                return


def _long_line(
    fh: io.BufferedIOBase | io.RawIOBase,
    compressed: bool,
    head: bytearray,
    offset: int,
    line_no: int,
    chunk_bytes: int,
    max_line_bytes: int,
) -> tuple[Chunk, bytes, Exception | None]:
    """The chunk of one line that starts with ``head`` (read so far, no newline in it)
    and goes on in ``fh``: the line cut to ``max_line_bytes`` and marked.  The rest of
    the line is read in blocks and dropped up to its newline.  Returns the chunk,
    the bytes read after the newline (the next chunk's start) and the error that
    stopped reading, if any (the chunk is then final)."""
    length = len(head)  # of the line so far, in bytes
    kept = bytes(head[: max_line_bytes + 4])  # a few more: where a UTF-8 character ends
    rest, error, newline_found = b"", None, False
    while True:
        block: bytes | bytearray
        if compressed:
            block, error = _read_block(fh, chunk_bytes)
            got = len(block)
        else:
            block, got, error = _read_into(fh, b"", chunk_bytes)
        newline = block.find(b"\n")
        if newline >= 0:
            length += newline
            rest, newline_found = bytes(block[newline + 1 :]), True
            break
        length += got
        if error is not None or got < chunk_bytes:  # the file ends inside the line
            break
    body = bytearray(_cut(kept, length, max_line_bytes))
    if newline_found:
        body += b"\n"
    frame, replaced, nul_lines = _lines_frame(body, line_no, max_line_bytes=None)
    end = offset + length + (1 if newline_found else 0)
    final = not newline_found or (error is not None and not rest)
    return Chunk(frame, offset, end, final, replaced, nul_lines, body=body, truncated=1), rest, error


def _cut(line: bytes | bytearray | memoryview, length: int, limit: int) -> bytes:
    """The first ``limit`` bytes of a line of ``length`` bytes (fewer if a UTF-8 character
    would be split), and the mark that says it was cut."""
    keep = limit
    # step back over the continuation bytes (10xxxxxx) of a character the cut would split
    while keep > limit - 3 and keep > 0 and keep < len(line) and line[keep] & 0xC0 == 0x80:
        keep -= 1
    if keep < len(line) and line[keep] & 0xC0 == 0x80:
        keep = limit  # not UTF-8 anyway: cut where the limit says
    return bytes(line[:keep]) + TRUNCATED.format(length).encode("utf-8")


def read_ahead(chunks: Iterator[Chunk], depth: int = 1) -> Iterator[Chunk]:
    """``chunks``, produced by a thread that reads and splits up to ``depth`` chunks
    ahead while the caller parses: reading, decoding and splitting then overlap
    with parsing instead of preceding it.  An error raised while reading reaches
    the caller at the same point in the sequence as it would without the thread."""
    # ("chunk", Chunk), ("error", exception) or ("end", None)
    handoff: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for chunk in chunks:
                if not _offer(handoff, ("chunk", chunk), stop):
                    return
            _offer(handoff, ("end", None), stop)
        except BaseException as exc:
            _offer(handoff, ("error", exc), stop)

    reader = threading.Thread(target=produce, name="pipeline-reader", daemon=True)
    reader.start()
    try:
        while True:
            what, item = handoff.get()
            if what == "chunk":
                yield item
            elif what == "error":
                raise item
            else:
                return
    finally:
        stop.set()  # the caller stopped early: let the reader go
        reader.join()


def _offer(handoff: queue.Queue[tuple[str, Any]], item: tuple[str, Any], stop: threading.Event) -> bool:
    while not stop.is_set():
        try:
            handoff.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


READ_PIECE = 64 * 1024  # small enough that a damaged .gz loses little before the error


def _read_block(fh: io.BufferedIOBase | io.RawIOBase, size: int) -> tuple[bytes, Exception | None]:
    """Up to ``size`` bytes, read in pieces so that a damaged stream (a truncated
    .gz) still yields what came before the damage, with the error."""
    pieces: list[bytes] = []
    got = 0
    while got < size:
        try:
            piece = fh.read(min(READ_PIECE, size - got))
        except (OSError, EOFError, zlib.error) as exc:
            return b"".join(pieces), exc
        if not piece:
            break
        pieces.append(piece)
        got += len(piece)
    return b"".join(pieces), None


def _read_into(
    fh: io.BufferedIOBase | io.RawIOBase, carry: bytes, size: int
) -> tuple[bytearray, int, Exception | None]:
    """``carry`` followed by up to ``size`` bytes of an unbuffered plain file, read into
    one new buffer; the count of bytes read, and the error that stopped reading (what
    came before it is kept).  Reading stops at the size the file has now: a small
    file, or a large one's last chunk, gets a buffer of its own size, not ``size``."""
    try:
        left = os.fstat(fh.fileno()).st_size - fh.tell()
    except OSError:
        left = 0
    if left > 0:
        size = min(size, left)
    data = bytearray(len(carry) + size)
    data[: len(carry)] = carry
    view = memoryview(data)
    filled, error = len(carry), None
    with view:
        while filled < len(data):
            try:
                n = fh.readinto(view[filled:])
            except OSError as exc:
                error = exc
                break
            if not n:
                break
            filled += n
    del data[filled:]
    return data, filled - len(carry), error


def _skip(fh: io.BufferedIOBase | io.RawIOBase, count: int) -> None:
    while count > 0:
        got = fh.read(min(count, 1 << 20))
        if not got:
            break
        count -= len(got)


class _ArrowInterface:
    """An Arrow array that polars sees only through the Arrow C data interface.

    Given a pyarrow array itself, polars imports ``pyarrow.compute`` to coerce array types
    this one never has: 0.04 s of every ingest's start (it builds every compute function's
    docstring).  Through the interface the lines come over the same, as fast."""

    def __init__(self, array: Any) -> None:
        self._array = array

    def __arrow_c_array__(self, requested_schema: Any = None) -> Any:
        return self._array.__arrow_c_array__(requested_schema)


def _lines_frame(
    body: bytes | bytearray,
    first_line: int,
    *,
    max_line_bytes: int | None = DEFAULT_MAX_LINE_BYTES,
    cut: list[int] | None = None,
) -> tuple[pl.DataFrame, int, int]:
    """The chunk's lines as a frame (``line_no``, ``line``), and how many characters
    were replaced: invalid UTF-8 bytes and NULs (DuckDB and polars handle NUL badly)
    become a visible U+FFFD.  A line longer than ``max_line_bytes`` (None: no limit) is
    cut to that length and marked (see TRUNCATED); ``cut``, when given, gets each such
    line's whole length.

    The lines are cut by their newlines' positions, found by numpy, and handed to
    polars as one Arrow string array over the chunk's own bytes: no Python object per
    line, no copy of the text, and the GIL stays free for the threads staging and
    committing earlier chunks.
    """
    import numpy as np
    import polars as pl
    import pyarrow as pa

    ends = np.flatnonzero(np.frombuffer(body, dtype=np.uint8) == 10) + 1
    changed = False
    if max_line_bytes is not None and len(body) > max_line_bytes:
        # the longest line, newline included (numpy: no Python loop over the lines)
        starts = np.concatenate([np.zeros(1, np.int64), ends.astype(np.int64)])
        bounds = np.append(starts, len(body)) if starts[-1] < len(body) else starts
        lengths = np.diff(bounds)
        if lengths.size and int(lengths.max()) > max_line_bytes:
            body, cut_lengths = _cut_long_lines(body, bounds, lengths, max_line_bytes)
            if cut is not None:
                cut.extend(cut_lengths)
            changed = bool(cut_lengths)
    replaced = nul_lines = 0
    if not body.isascii():  # almost always ASCII: then it is valid UTF-8 as it is
        try:
            str(body, "utf-8")
        except UnicodeDecodeError:
            text = str(body, "utf-8", "replace")
            replaced = text.count("\ufffd") - body.count(REPLACEMENT)  # not those already there
            body = text.encode("utf-8")
            changed = True
    if b"\x00" in body:
        nul_lines = body.count(b"\x00")
        body = body.replace(b"\x00", REPLACEMENT)
        changed = True
    if changed:  # the newlines moved
        ends = np.flatnonzero(np.frombuffer(body, dtype=np.uint8) == 10) + 1
    if not body.endswith(b"\n"):  # the file's last line has no newline
        ends = np.append(ends, len(body))
    offsets = np.concatenate([np.zeros(1, np.int64), ends.astype(np.int64)])
    raw_lines = pa.Array.from_buffers(pa.large_string(), len(ends), [None, pa.py_buffer(offsets), pa.py_buffer(body)])
    lines = pl.Series("line", _ArrowInterface(raw_lines)).str.strip_suffix("\n")
    if b"\r" in body:
        lines = lines.str.strip_suffix("\r")
    frame = pl.DataFrame(
        {
            "line_no": pl.int_range(first_line, first_line + len(lines), eager=True, dtype=pl.Int64),
            "line": lines,
        }
    )
    return frame, replaced, nul_lines


def _cut_long_lines(body: bytes | bytearray, bounds: Any, lengths: Any, limit: int) -> tuple[bytes, list[int]]:
    """``body`` with each line longer than ``limit`` bytes (its newline not counted) cut
    and marked, and the whole lengths of the lines cut."""
    pieces: list[bytes | bytearray] = []
    cut_lengths: list[int] = []
    done = 0
    view = memoryview(body)
    with view:
        for i in (lengths > limit).nonzero()[0]:
            start, end = int(bounds[i]), int(bounds[i + 1])
            stop = end - 1 if body[end - 1] == 10 else end  # the line without its newline
            if stop - start <= limit:
                continue
            pieces.append(bytes(view[done:start]))
            pieces.append(_cut(view[start : min(stop, start + limit + 4)], stop - start, limit))
            cut_lengths.append(stop - start)
            done = stop
        pieces.append(bytes(view[done:]))
    return b"".join(pieces), cut_lengths
