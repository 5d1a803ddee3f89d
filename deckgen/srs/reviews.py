"""Review history in, typed records out: a review-log CSV or a learner's Anki collection.

A collection is never opened in place. Its bytes (and its write-ahead log, if any) are copied to
a temporary folder and the copy is opened: that works while Anki is running (Anki holds an
exclusive SQLite lock on the file, which blocks readers but not a file copy) and can never modify
the learner's data. A ``.colpkg`` export is unpacked the same way (``collection.anki21b`` is
zstd-compressed SQLite; older exports hold ``collection.anki21`` or ``collection.anki2``).
"""

from __future__ import annotations

import contextlib
import csv
import json
import shutil
import sqlite3
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ..core.errors import DeckgenError, Problem

CSV_COLUMNS = ("card_id", "review_rating", "review_time", "review_duration")
RATINGS = {1: "again", 2: "hard", 3: "good", 4: "easy"}
# Anki's revlog.type values.
LEARN, REVIEW, RELEARN, FILTERED, MANUAL = 0, 1, 2, 3, 4


@dataclass(frozen=True)
class Review:
    """One answer: which card, the rating (1 again .. 4 easy), when, and how long it took."""

    card_id: int
    rating: int
    time: datetime  # timezone-aware
    duration_ms: int
    kind: int | None = None  # Anki revlog type (LEARN, REVIEW, ...); None when the source has none
    reset: bool = False  # Anki's "Forget"/"Reset card": history before it no longer applies


@dataclass(frozen=True)
class CollectionCard:
    """A card of the collection with the GUID of its note, which maps it back to deckgen content."""

    id: int
    note_guid: str
    lapses: int
    type: int = 0  # Anki's card type: 0 new, 1 learning, 2 review, 3 relearning
    deck_id: int = 0


@dataclass(frozen=True)
class CollectionData:
    """What the toolkit needs from a collection: cards, reviews and the day boundary."""

    cards: dict[int, CollectionCard]
    reviews: list[Review]
    rollover_hours: int  # a new Anki day starts at this local hour
    utc_offset_minutes: int  # the collection's local time zone, east of UTC


def day_of(time: datetime, rollover_hours: int = 4, utc_offset_minutes: int = 0) -> int:
    """The study day a review belongs to (days since 1970), as Anki counts them.

    Anki's day starts at the rollover hour (4 am by default), so a review at 1 am counts for the
    previous day. FSRS works in whole days between reviews.
    """
    return int((time.timestamp() + 60 * utc_offset_minutes - 3600 * rollover_hours) // 86400)


def read_csv(path: Path, shown: str) -> list[Review]:
    """Reviews from ``card_id,review_rating,review_time,review_duration`` (ISO 8601 times, ms)."""
    try:
        handle = path.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise DeckgenError(Problem(shown, None, None, f"cannot read: {exc.strerror or exc}")) from None
    reviews: list[Review] = []
    with handle:
        try:
            reader = csv.DictReader(handle)
            header = reader.fieldnames or []
            missing = [c for c in CSV_COLUMNS if c not in header]
            if missing:
                raise DeckgenError(Problem(shown, 1, None, f"missing column(s) {', '.join(missing)} "
                                           f"(expected {','.join(CSV_COLUMNS)})"))
            for row in reader:
                reviews.append(_csv_review(row, shown, reader.line_num))
        except UnicodeDecodeError:
            raise DeckgenError(Problem(shown, None, None, "not a UTF-8 text file")) from None
        except csv.Error as exc:
            raise DeckgenError(Problem(shown, None, None, f"not valid CSV: {exc}")) from None
    if not reviews:
        raise DeckgenError(Problem(shown, None, None, "no reviews in the file"))
    return reviews


def _csv_review(row: dict[str, str], shown: str, line: int) -> Review:
    def bad(message: str) -> DeckgenError:
        return DeckgenError(Problem(shown, line, None, message))

    try:
        card_id = int(row["card_id"])
    except (TypeError, ValueError):
        raise bad(f"card_id {row['card_id']!r} is not an integer") from None
    try:
        rating = int(row["review_rating"])
    except (TypeError, ValueError):
        rating = -1
    if rating not in RATINGS:
        raise bad(f"unknown rating {row['review_rating']!r} (expected 1 again, 2 hard, 3 good, 4 easy)")
    try:
        time = datetime.fromisoformat(row["review_time"] or "")
    except ValueError:
        raise bad(f"review_time {row['review_time']!r} is not an ISO 8601 time") from None
    if time.tzinfo is None:
        time = time.replace(tzinfo=UTC)  # a log without offsets is taken as UTC
    raw = (row["review_duration"] or "0").strip()
    try:
        duration = int(float(raw))
    except ValueError:
        raise bad(f"review_duration {raw!r} is not a number of milliseconds") from None
    if duration < 0:
        raise bad(f"review_duration {duration} is negative")
    return Review(card_id, rating, time, duration)


@contextlib.contextmanager
def private_copy(path: Path, shown: str) -> Iterator[Path]:
    """A private copy of a collection (``.anki2`` or ``.colpkg``), deleted afterwards; the original is only read."""
    if not path.exists():
        raise DeckgenError(Problem(shown, None, None, "collection not found"))
    if not path.is_file():
        raise DeckgenError(Problem(shown, None, None, "not a file (give the path of collection.anki2 or a .colpkg)"))
    if path.suffix.lower() == ".apkg":
        raise DeckgenError(Problem(shown, None, None, "a deck package (.apkg) to import into Anki, not a collection: "
                                   "give your profile's collection.anki2 or a .colpkg export"))
    with tempfile.TemporaryDirectory(prefix="deckgen-col-") as tmp:
        copy = Path(tmp) / "collection.anki2"
        try:
            if zipfile.is_zipfile(path):
                _unpack_colpkg(path, copy, shown)
            else:
                shutil.copyfile(path, copy)
                wal = path.with_name(path.name + "-wal")
                if wal.is_file():  # recent changes Anki has not checkpointed into the main file yet
                    shutil.copyfile(wal, copy.with_name(copy.name + "-wal"))
        except OSError as exc:
            raise DeckgenError(Problem(shown, None, None, f"cannot read: {exc.strerror or exc}")) from None
        con = sqlite3.connect(copy)
        try:
            tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.DatabaseError as exc:
            raise DeckgenError(Problem(shown, None, None, f"not an Anki collection ({exc})")) from None
        finally:
            con.close()
        if not {"cards", "notes", "revlog"} <= tables:
            raise DeckgenError(Problem(shown, None, None, "not an Anki collection (no cards/notes/revlog tables)"))
        yield copy


@contextlib.contextmanager
def collection_copy(path: Path, shown: str) -> Iterator[sqlite3.Connection]:
    """A connection to a private copy of a collection (``.anki2`` or ``.colpkg``)."""
    with private_copy(path, shown) as copy:
        con = sqlite3.connect(copy)
        try:
            yield con
        finally:
            con.close()


def _unpack_colpkg(path: Path, dest: Path, shown: str) -> None:
    with zipfile.ZipFile(path) as zf:
        names = set(zf.namelist())
        if "collection.anki21b" in names:
            import zstandard  # only needed for modern exports

            with zf.open("collection.anki21b") as src, dest.open("wb") as out:
                zstandard.ZstdDecompressor().copy_stream(src, out)
            return
        for legacy in ("collection.anki21", "collection.anki2"):
            if legacy in names:
                with zf.open(legacy) as src, dest.open("wb") as out:
                    shutil.copyfileobj(src, out)
                return
    raise DeckgenError(Problem(shown, None, None, "a zip file without an Anki collection inside"))


def read_collection(path: Path, shown: str) -> CollectionData:
    """Cards, notes and review log of a collection, read from a private copy."""
    with collection_copy(path, shown) as con:
        return read_connection(con, shown)


def read_connection(con: sqlite3.Connection, shown: str) -> CollectionData:
    """Cards, notes and review log through an open connection (to a private copy)."""
    try:
        rollover, offset = _day_settings(con)
        guids = dict(con.execute("SELECT id, guid FROM notes").fetchall())
        columns = {row[1] for row in con.execute("PRAGMA table_info(cards)")}
        extra = "type, did" if {"type", "did"} <= columns else "0, 0"  # absent only from hand-made test files
        cards = {cid: CollectionCard(cid, guids.get(nid, ""), lapses, ctype, did)
                 for cid, nid, lapses, ctype, did in con.execute(f"SELECT id, nid, lapses, {extra} FROM cards")}
        # A manual entry with interval and ease factor 0 is a reset ("Forget"); other manual entries
        # ("Set due date") and their rating 0 are not answers.
        reviews = [
            Review(cid, ease, datetime.fromtimestamp(rid / 1000, UTC), max(0, dur), kind,
                   kind == MANUAL and ivl == 0 and factor == 0)
            for rid, cid, ease, dur, kind, ivl, factor in con.execute(
                "SELECT id, cid, ease, time, type, ivl, factor FROM revlog ORDER BY id")
        ]
    except sqlite3.DatabaseError as exc:
        raise DeckgenError(Problem(shown, None, None, f"cannot read the collection: {exc}")) from None
    return CollectionData(cards, reviews, rollover, offset)


def _day_settings(con: sqlite3.Connection) -> tuple[int, int]:
    """The rollover hour and the time-zone offset the collection was created with."""
    rollover, offset = 4, 0
    with contextlib.suppress(sqlite3.DatabaseError):
        for key, val in con.execute("SELECT key, val FROM config WHERE key IN ('rollover', 'creationOffset')"):
            value = json.loads(val)
            if key == "rollover" and isinstance(value, int):
                rollover = value
            elif key == "creationOffset" and isinstance(value, int):
                offset = -value  # Anki stores minutes *west* of UTC
    return rollover, offset
