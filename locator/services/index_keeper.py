"""Keeping one worker's index in step with the store, without ever doing it in a request.

Start-up
    :meth:`IndexKeeper.start_up` loads the newest snapshot of this store
    (:mod:`locator.core.snapshot`, in the snapshot directory, normally
    ``instance/index/``) whose revision is not past the store's, catches up with the
    changes after it, and checks the result against the store (the facility count and
    a sample of facilities: a snapshot is never trusted on its key alone). With no
    usable snapshot, one process builds the index from the rows (in longitude bands of
    at most :data:`CHUNK` facilities, so that memory stays bounded), writes a snapshot
    and loads it, while the other workers wait on a lock and then load that snapshot.
    Every worker maps the same file, so the arrays are shared in the page cache.

Following the store
    A background thread per worker (started lazily on first use, so after gunicorn's
    fork) polls :meth:`FacilityStore.revision` every ``poll_s`` seconds (PostGIS: a
    cached value from LISTEN/NOTIFY; SQLite: one indexed SELECT) and applies
    :meth:`FacilityStore.changes_since` to the index as an overlay
    (:meth:`FacilityIndex.apply`, O(overlay)), then publishes the new index by one
    attribute assignment. A request only reads that attribute: no revision check, no
    catch-up. A change set larger than the fold threshold is folded into a new base in
    the same thread before it is published (the old index answers meanwhile).

Folds
    When the overlay passes ``fold_at`` facilities a second thread folds it
    (:meth:`FacilityIndex.fold`: array copies, kd-trees rebuilt for the kinds changed),
    writes a snapshot (one worker at a time, under a file lock) and maps it, and swaps
    the result in, re-applying what the first thread applied meanwhile
    (:meth:`FacilityIndex.rebased`).

Own writes
    :meth:`IndexKeeper.written` patches this worker's own committed write into the
    index at once (pinned, see :meth:`FacilityIndex.patch`), so the writer's next
    request sees it; the other workers see it within ``poll_s`` plus the apply time.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import random
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

from locator.core.domain import Facility
from locator.core.index import BaseBuilder, FacilityIndex
from locator.core.snapshot import (
    FORMAT,
    SnapshotError,
    layout_hash,
    load_snapshot,
    preload,
    read_footer,
    write_snapshot,
)
from locator.errors import NotFoundError, StoreUnavailableError
from locator.stores.contract import ChangeSet, FacilityStore, ListFilter

log = logging.getLogger(__name__)

#: Facilities read per query when building from the rows (longitude bands).
CHUNK: Final = 50_000
#: Default seconds between revision checks.
DEFAULT_POLL_S: Final = 0.05
#: Shortest poll interval accepted.
MIN_POLL_S: Final = 0.01
#: Facilities compared with the store after loading a snapshot.
SAMPLE: Final = 16
SUFFIX: Final = ".lidx"

_KEEPERS: weakref.WeakSet[IndexKeeper] = weakref.WeakSet()


def fold_threshold(n: int) -> int:
    """Overlay size at which a fold starts: 256 up to 32k facilities, n/128 up to 2,048."""
    return max(256, min(2048, n // 128))


def store_identity(store: FacilityStore) -> str | None:
    """A stable name of the store's database, for snapshot keys (None: no snapshots).

    SQLite: the resolved file path with its device and inode (a file replaced by
    another at the same path is another store). PostGIS: ``user@host:port/dbname``.
    Both are checked further against the store's content after loading (see the
    module docstring).
    """
    path = getattr(store, "path", None)
    if store.backend == "sqlite" and path is not None:
        return _sqlite_identity(Path(path))
    where = getattr(store, "where", None)
    if store.backend == "postgis" and where:
        return f"postgis:{where}"
    return None


def _sqlite_identity(path: Path) -> str | None:
    try:
        real = path.resolve()
        st = real.stat()
    except OSError:
        return None
    return f"sqlite:{real}:{st.st_dev}:{st.st_ino}"


def url_identity(url: str) -> str | None:
    """:func:`store_identity` of the store a database URL names, without opening it."""
    if url.startswith("sqlite:///"):
        from locator.stores.sqlite import path_from_url

        return _sqlite_identity(path_from_url(url))
    if url.startswith(("postgresql://", "postgres://")):
        from locator.stores.postgis import describe_url  # type: ignore[import-not-found,unused-ignore]

        return f"postgis:{describe_url(url)}"
    return None


def _candidates(url: str, snapshot_dir: Path) -> tuple[str | None, list[Path]]:
    """The store's identity and its snapshot files, newest revision first."""
    identity = url_identity(url)
    if identity is None:
        return None, []
    prefix = hashlib.sha256(identity.encode()).hexdigest()[:20]
    try:
        names = sorted(os.listdir(snapshot_dir), reverse=True)
    except OSError:
        return identity, []
    return identity, [snapshot_dir / n for n in names if n.startswith(prefix + "-") and n.endswith(SUFFIX)]


def has_snapshot(url: str, snapshot_dir: Path) -> bool:
    """Whether ``snapshot_dir`` holds a snapshot for this store and this code (footer checked).

    Cheap (no store access, no checksum pass): for deciding, before the workers start,
    whether one must be built first (``gunicorn.conf.py``). The workers still check the
    whole file, and catch up with what changed after it.
    """
    identity, paths = _candidates(url, snapshot_dir)
    for path in paths:
        try:
            key = read_footer(path)["key"]
        except SnapshotError:
            continue
        if (
            key.get("store") == identity
            and key.get("layout") == layout_hash()
            and key.get("format") == FORMAT
        ):
            return True
    return False


def preload_snapshot(url: str, snapshot_dir: Path) -> bool:
    """Load this store's newest valid snapshot into this process, for the processes it forks.

    See :func:`locator.core.snapshot.preload`; for the gunicorn master. No store access.
    """
    identity, paths = _candidates(url, snapshot_dir)
    for path in paths:
        assert identity is not None
        try:
            preload(path, identity)
            return True
        except SnapshotError as exc:
            log.warning("not preloading index snapshot %s: %s", path.name, exc)
    return False


def read_facilities(store: FacilityStore, chunk: int = CHUNK) -> Iterator[list[Facility]]:
    """Every facility, in chunks of at most about ``chunk``, by longitude bands.

    A band is read with one ``list(ListFilter(bbox=…))`` and split in two while the
    store counts more than ``chunk`` in it. Bands share their edges, so a facility on
    an edge comes twice (the builder keeps one). Bands are read one after another, not
    in one transaction: the caller reads the revision before the first band and
    applies :meth:`FacilityStore.changes_since` of it afterwards, which re-reads every
    facility written meanwhile in its current state (and drops the deleted ones).
    """
    if store.count() <= chunk:
        yield store.all()
        return
    stack = [(-180.0, 180.0)]
    while stack:
        lo, hi = stack.pop()
        flt = ListFilter(bbox=(lo, -90.0, hi, 90.0))
        if hi - lo > 1e-7 and store.count(flt) > chunk:
            mid = (lo + hi) / 2
            stack.append((mid, hi))
            stack.append((lo, mid))
            continue
        yield store.list(flt)


def build_from_store(store: FacilityStore, chunk: int = CHUNK) -> FacilityIndex:
    """A fresh index of every facility in the store, at the store's revision.

    Raises
    ------
    StoreUnavailableError
    """
    revision = store.revision()
    builder = BaseBuilder()
    for part in read_facilities(store, chunk):
        builder.add(part)
        del part
    idx = FacilityIndex.from_base(builder.finish(revision))
    changes = store.changes_since(revision)
    if changes.revision != revision:
        idx = idx.apply(changes.changed, changes.deleted_ids, changes.revision)
    return idx.fold()


class IndexKeeper:
    """One worker's index, kept in step with the store (see the module docstring).

    Parameters
    ----------
    store : FacilityStore
    snapshot_dir : Path or None
        Where snapshots are kept (created if missing); None: no snapshots.
    poll_s : float
        Seconds between revision checks of the background thread.
    fold_at : int, optional
        Overlay size that starts a fold (default :func:`fold_threshold` of the size).

    Attributes
    ----------
    index : FacilityIndex
        The published index. Reading it is all a request does.
    """

    def __init__(
        self,
        store: FacilityStore,
        *,
        snapshot_dir: Path | None = None,
        poll_s: float = DEFAULT_POLL_S,
        fold_at: int | None = None,
    ) -> None:
        self.store = store
        self.snapshot_dir = snapshot_dir
        self.poll_s = max(MIN_POLL_S, poll_s)
        #: The store revision the background thread last read, and when it last succeeded.
        self.store_revision_seen = -1
        self.checked_at: float | None = None
        #: Called with the keeper after every successful round (e.g. to update metrics).
        self.on_tick: list[Callable[[IndexKeeper], None]] = []
        self._fold_at = fold_at
        self.index = FacilityIndex([], revision=-1)
        self.running = False
        self.closed = False
        self._thread: threading.Thread | None = None
        self._init_locks()
        self._identity: str | None = None
        self._last_error = 0.0
        self._warmers: list[Callable[[FacilityIndex], object]] = []
        _KEEPERS.add(self)

    def _init_locks(self) -> None:
        self._lock = threading.Lock()  # publishing self.index
        self._catchup_lock = threading.Lock()  # one catch-up at a time
        self._wake = threading.Event()
        self._folding = False

    @property
    def fold_at(self) -> int:
        """Overlay size that starts a fold."""
        return self._fold_at if self._fold_at is not None else fold_threshold(self.index.base_size)

    # -- data derived from each base ------------------------------------------------------

    def add_warmer(self, warm: Callable[[FacilityIndex], object]) -> None:
        """Run ``warm(index)`` on every new base before it is published, in the background.

        For data derived from a base (:meth:`FacilityIndex.base_derived`, e.g. the city
        map's cluster pyramid) that should be ready before a request needs it: it runs
        when the background thread starts (for the index loaded at start-up) and in the
        thread that folds or rebuilds a base, before the new index is published. A
        request that comes first builds it itself (``base_derived`` makes it wait for
        one build, never two). Errors are logged, never raised.
        """
        self._warmers.append(warm)

    def _warm(self, idx: FacilityIndex) -> None:
        for warm in list(self._warmers):
            try:
                warm(idx)
            except Exception:
                log.exception("warming derived index data failed")

    # -- snapshots ------------------------------------------------------------------------

    def _prefix(self) -> str | None:
        if self.snapshot_dir is None:
            return None
        if self._identity is None:
            self._identity = store_identity(self.store)
        if self._identity is None:
            return None
        return hashlib.sha256(self._identity.encode()).hexdigest()[:20]

    def _snapshots(self, prefix: str) -> list[tuple[int, Path]]:
        """Snapshot files of this store, newest revision first."""
        assert self.snapshot_dir is not None
        out = []
        try:
            names = os.listdir(self.snapshot_dir)
        except OSError:
            return []
        for name in names:
            if name.startswith(prefix + "-") and name.endswith(SUFFIX):
                try:
                    out.append((int(name[len(prefix) + 1 : -len(SUFFIX)]), self.snapshot_dir / name))
                except ValueError:
                    continue
        out.sort(reverse=True)
        return out

    @contextmanager
    def _file_lock(self, prefix: str, *, blocking: bool) -> Iterator[bool]:
        assert self.snapshot_dir is not None
        fd = os.open(self.snapshot_dir / f".{prefix}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def _load_newest(self, prefix: str, max_revision: int) -> FacilityIndex | None:
        """The newest valid snapshot at or before ``max_revision``; bad files are removed."""
        assert self._identity is not None
        for revision, path in self._snapshots(prefix):
            if revision > max_revision:
                continue
            try:
                return load_snapshot(path, self._identity, revision)
            except SnapshotError as exc:
                log.warning("ignoring index snapshot %s: %s", path.name, exc)
                path.unlink(missing_ok=True)
        return None

    def _save(self, prefix: str, idx: FacilityIndex) -> FacilityIndex:
        """Write ``idx`` (folded) as this store's snapshot, remove older ones, return it mapped."""
        assert self.snapshot_dir is not None and self._identity is not None
        path = self.snapshot_dir / f"{prefix}-{idx.revision:012d}{SUFFIX}"
        if not idx.overlay_size and idx._base.source == path and path.exists():
            return idx  # already that file, mapped
        try:
            if not path.exists():
                write_snapshot(idx, path, self._identity)
            loaded = load_snapshot(path, self._identity, idx.revision)
        except (OSError, SnapshotError) as exc:
            log.warning("cannot write the index snapshot %s: %s", path.name, exc)
            return idx
        for revision, old in self._snapshots(prefix):
            if revision < idx.revision:
                old.unlink(missing_ok=True)
        return idx.with_base(loaded) if idx.pins else loaded

    def _check(self, idx: FacilityIndex) -> bool:
        """Whether ``idx`` (caught up with the store) agrees with it: count and a sample."""
        store = self.store
        for _ in range(3):
            before = store.revision()
            count = store.count()
            if store.revision() == before == idx.revision:
                if count != len(idx):
                    log.warning(
                        "index snapshot disagrees with the store: %s vs %s facilities", len(idx), count
                    )
                    return False
                break
        if not len(idx):
            return True
        rng = random.Random(idx.revision)  # noqa: S311 - a sample, not a secret
        handles = idx.handles()
        sample = [
            idx.facility(handles[rng.randrange(len(handles))]) for _ in range(min(SAMPLE, len(handles)))
        ]
        stored = {f.id: f for f in store.list(ListFilter(ids=frozenset(f.id for f in sample)))}
        for f in sample:
            s = stored.get(f.id)
            if s is None or s.version < f.version or (s.version == f.version and s != f):
                log.warning("index snapshot disagrees with the store about facility %r", f.id)
                return False
        return True

    # -- start-up and catch-up ----------------------------------------------------------------

    def start_up(self) -> FacilityIndex:
        """Load (or build) the index for the store's current revision; return it.

        Raises
        ------
        StoreUnavailableError
        """
        prefix = self._prefix()
        if prefix is None:
            idx = build_from_store(self.store)
        else:
            assert self.snapshot_dir is not None
            self.snapshot_dir.mkdir(parents=True, exist_ok=True)
            idx = self._start_from_snapshots(prefix)
        with self._lock:
            self.index = idx
        return idx

    def _start_from_snapshots(self, prefix: str) -> FacilityIndex:
        idx: FacilityIndex | None = None
        for attempt in range(2):
            idx = self._load_newest(prefix, self.store.revision())
            if idx is None:
                with self._file_lock(prefix, blocking=True):
                    # Another worker may have written it while this one waited.
                    idx = self._load_newest(prefix, self.store.revision())
                    if idx is None:
                        started = time.perf_counter()
                        idx = self._save(prefix, build_from_store(self.store))
                        log.info(
                            "built the index from the store: %s facilities at revision %s in %.1f s",
                            len(idx),
                            idx.revision,
                            time.perf_counter() - started,
                        )
            idx = self._caught_up(idx, prefix)
            if attempt == 0 and not self._check(idx):
                for _, path in self._snapshots(prefix):
                    path.unlink(missing_ok=True)
                continue
            return idx
        assert idx is not None
        return idx

    def _caught_up(self, idx: FacilityIndex, prefix: str | None) -> FacilityIndex:
        """``idx`` with the store's changes since its revision (folded, and saved, if many)."""
        if self.store.revision() == idx.revision:
            return idx
        changes = self.store.changes_since(idx.revision)
        if changes.revision == idx.revision:
            return idx
        new = idx.apply(changes.changed, changes.deleted_ids, changes.revision)
        if new.overlay_size > self.fold_at:
            new = new.fold()
            if prefix is not None:
                with self._file_lock(prefix, blocking=True):
                    new = self._save(prefix, new)
        return new

    def checkpoint(self) -> Path | None:
        """Catch up, fold and write the snapshot of the current revision now; return its path.

        For ``flask locator index-snapshot`` (run before the workers start, so that every
        worker maps a snapshot of the current revision). None when snapshots are off.

        Raises
        ------
        StoreUnavailableError
        """
        prefix = self._prefix()
        with self._catchup_lock:
            self._step()
            if prefix is None:
                return None
            with self._file_lock(prefix, blocking=True):
                start = self.index
                saved = self._save(prefix, start.fold())
                with self._lock:
                    cur = self.index
                    self.index = saved if cur is start else cur.rebased(saved, start)
        assert self.snapshot_dir is not None
        path = self.snapshot_dir / f"{prefix}-{saved.revision:012d}{SUFFIX}"
        return path if path.exists() else None

    def catch_up(self) -> FacilityIndex:
        """Apply the store's changes now, in the calling thread; return the index.

        For writers' tests and the command line; requests never call it (the
        background thread does this).

        Raises
        ------
        StoreUnavailableError
        """
        with self._catchup_lock:
            self._step()
        return self.index

    def _step(self, inline_limit: int | None = None) -> bool:
        """One catch-up (the caller holds the catch-up lock); False if left to the background.

        With ``inline_limit``, a change set larger than that is not applied here.
        """
        start = self.index
        if start.revision < 0:
            self.start_up()
            return True
        current = self.store.revision()
        self.store_revision_seen = current
        if current == start.revision:
            return True
        if current < start.revision:
            # The store went back (restored from a backup, or replaced): start again.
            log.warning("store revision %s is behind the index's %s; rebuilding", current, start.revision)
            self.start_up()
            return True
        if inline_limit is not None and self.store.count_changes_since(start.revision) > inline_limit:
            return False  # a large change set (an import): never read inside a request
        changes: ChangeSet = self.store.changes_since(start.revision)
        if changes.revision == start.revision:
            return True
        size = len(changes.changed) + len(changes.deleted_ids)
        if size + start.overlay_size <= self.fold_at:
            with self._lock:
                self.index = self.index.apply(changes.changed, changes.deleted_ids, changes.revision)
            return True
        if inline_limit is not None and size > inline_limit:
            return False
        # A large change set: fold before publishing, so no query ever searches a huge overlay.
        new = start.apply(changes.changed, changes.deleted_ids, changes.revision).fold()
        prefix = self._prefix()
        if prefix is not None:
            with self._file_lock(prefix, blocking=True):
                new = self._save(prefix, new)
        self._warm(new)
        with self._lock:
            cur = self.index
            self.index = new if cur is start else cur.with_base(new)
        return True

    # -- own writes -----------------------------------------------------------------------

    def written(self, changed: Iterable[Facility] = (), deleted_ids: Iterable[str] = ()) -> None:
        """Show this worker's own committed write in the index before returning.

        Normally this catches up with the store at once (the background thread keeps
        the gap to what committed in the last ``poll_s``, so this reads a few rows), and
        the index's revision then covers the write. When the background thread is busy
        with a large change set, or the gap turns out large, the write is patched in
        instead, pinned until the store's revision read now (see
        :meth:`FacilityIndex.patch`), and the background thread catches up.
        """
        changed, deleted_ids = list(changed), list(deleted_ids)
        if self.index.revision >= 0 and self._catchup_lock.acquire(timeout=0.05):
            try:
                if self._step(inline_limit=self.fold_at):
                    return
            except StoreUnavailableError:
                pass
            finally:
                self._catchup_lock.release()
        try:
            until = self.store.revision()
        except StoreUnavailableError:
            until = self.index.revision + 1
        with self._lock:
            self.index = self.index.patch(changed, deleted_ids, until)
        self._wake.set()

    def wake(self) -> None:
        """Make the background thread check the store now."""
        self._wake.set()

    # -- the background threads ----------------------------------------------------------------

    def ensure_running(self) -> None:
        """Start the background thread in this process, if it is not running."""
        with self._lock:
            if self.running or self.closed:
                return
            self.running = True
        thread = threading.Thread(
            target=_watch, args=(weakref.ref(self), self._wake), name="locator-index-watcher", daemon=True
        )
        self._thread = thread
        thread.start()

    def stop(self) -> None:
        """Stop the background thread and wait for it (the index stays as it is)."""
        self.closed = True
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)

    def status(self) -> dict[str, float | int | None]:
        """How current this worker's index is (for ``/readyz`` and the metrics).

        Returns
        -------
        dict
            ``revision`` (the index's), ``store_revision`` (the store's, as last seen by the
            background thread), ``lag_revisions`` (how many revisions behind, >= 0),
            ``facilities``, ``overlay`` (facilities in the overlay) and
            ``seconds_since_check`` (since the thread last reached the store; None before).
        """
        idx = self.index
        seen = self.store_revision_seen
        return {
            "revision": idx.revision,
            "store_revision": seen,
            "lag_revisions": max(0, seen - idx.revision) if seen >= 0 else 0,
            "facilities": len(idx),
            "overlay": idx.overlay_size,
            "seconds_since_check": None if self.checked_at is None else time.monotonic() - self.checked_at,
        }

    def _tick(self) -> float:
        """One round of the background thread; returns the seconds to wait."""
        try:
            with self._catchup_lock:
                self._step()
            self.checked_at = time.monotonic()
            self._maybe_fold()
            for listener in list(self.on_tick):
                listener(self)
            return self.poll_s
        except (StoreUnavailableError, NotFoundError) as exc:
            now = time.monotonic()
            if now - self._last_error > 60:
                log.warning(
                    "index watcher: store unavailable (%s); answering from revision %s",
                    exc,
                    self.index.revision,
                )
                self._last_error = now
            return 1.0

    def _maybe_fold(self) -> None:
        if self._folding or self.index.overlay_size <= self.fold_at:
            return
        self._folding = True
        start = self.index
        threading.Thread(target=self._fold, args=(start,), name="locator-index-fold", daemon=True).start()

    def _fold(self, start: FacilityIndex) -> None:
        try:
            folded = start.fold()
            prefix = self._prefix()
            if prefix is not None:
                with self._file_lock(prefix, blocking=False) as leader:
                    if leader:
                        folded = self._save(prefix, folded)
                    else:
                        pass  # another worker is writing; keep this fold in memory
            self._warm(folded)
            with self._lock:
                cur = self.index
                if cur._base is start._base:  # no other base was swapped in meanwhile
                    self.index = cur.rebased(folded, start)
        except Exception:
            log.exception("index fold failed; the overlay stays")
        finally:
            self._folding = False


def _watch(ref: weakref.ref[IndexKeeper], wake: threading.Event) -> None:
    """The background thread: catch up every ``poll_s`` (exits when the keeper is gone or stopped)."""
    keeper = ref()
    if keeper is not None and keeper.index.revision >= 0:
        keeper._warm(keeper.index)  # the index loaded at start-up
    del keeper
    while True:
        keeper = ref()
        if keeper is None or keeper.closed:
            return
        try:
            wait = keeper._tick()
        except Exception:
            log.exception("index watcher failed; retrying")
            wait = 1.0
        del keeper
        if wake.wait(wait):
            wake.clear()


def _after_fork_in_child() -> None:
    """Threads do not survive fork: let each keeper start its own again, with fresh locks."""
    for keeper in list(_KEEPERS):
        keeper.running = False
        keeper._thread = None
        keeper._init_locks()


os.register_at_fork(after_in_child=_after_fork_in_child)
