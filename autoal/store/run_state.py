"""A run's state: its folder, its store, its examples, and a fresh snapshot of its annotations per step.

:class:`RunState` is what every step of a round works through. It maps the user's ids and classes to
the store's positions and class indices, writes answers, skips and assignments (each committed at
once), and hands out :class:`~autoal.store.snapshot.Snapshot` objects, reading from the store only the
annotations added since the last one (a full reload only after an annotation was changed or removed).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd

from autoal.data.prepare import PreparedData
from autoal.errors import InputError
from autoal.common.files import write_json_atomic
from autoal.common.json_values import json_default
from autoal.store.run_lock import WriterLock
from autoal.store.snapshot import Snapshot
from autoal.store.store_check import DamagedStore, holds_data, is_run_store
from autoal.store.run_store import OLD_FORMAT_FILES, STORE_FILE, RunStore

__all__ = ["RunState", "GIVEN", "open_run", "check_new_run_folder", "store_in_the_way", "old_format_message"]

GIVEN = "given"  # pseudo-annotator of the labels a real-mode DataFrame arrives with


def old_format_message(folder: Path) -> str:
    """What to tell a user whose run folder was written by an autoal that pickled its examples."""
    return (f"{str(folder)!r} holds a run written by an earlier autoal, which kept its examples in data.pkl, a "
            "pickle; autoal no longer loads pickles (loading one can run code from whoever wrote the folder). "
            f"Convert it with `autoal convert {folder} --manifest YOUR_DATA.csv` (it re-reads your data from the "
            "manifest it started from and keeps every label in labels.sqlite), or start a new run")


def check_new_run_folder(out: Path) -> None:
    """InputError unless ``out`` can take a new run (missing, empty, or left by a run that never started)."""
    if out.exists() and not out.is_dir():
        raise InputError(f"output_dir {str(out)!r} is a file; pass a folder")
    if any((out / name).exists() for name in OLD_FORMAT_FILES):
        raise InputError(old_format_message(out))
    refusal = store_in_the_way(out)
    if refusal:
        raise InputError(refusal)


def store_in_the_way(out: Path, *, run_there=None):
    """Why ``out``'s ``run.sqlite`` keeps a new run out, or None: there is none, or it holds nothing (an empty file
    left by something else, e.g. opening the path with ``sqlite3``: :meth:`RunStore.create
    <autoal.store.run_store.RunStore.create>` writes a store whole and moves it in place, so an empty one never held a
    run, and the new run replaces it). ``run_there``: what to say when a run store is there (default: resume it)."""
    store = out / STORE_FILE
    if not holds_data(store):
        return None
    if is_run_store(store):
        return run_there or (f"output_dir {str(out)!r} already holds a run; resume it with autoal.resume({str(out)!r}) "
                             "(CLI: autoal resume DIR), or choose a new folder")
    return (f"output_dir {str(out)!r} holds a {STORE_FILE} that autoal cannot read as a run store (another program's "
            "file, or a damaged run: `autoal resume DIR` says which); move that file away, or choose a new folder")


def open_run(run_dir, *, writer=False) -> "RunState":
    """The :class:`RunState` of the run in ``run_dir``; InputError (saying what to do) when it is not one.

    ``writer``: the caller drives the run's rounds (run, resume, serve, sync): take the run's
    :class:`~autoal.store.run_lock.WriterLock` first (:class:`~autoal.store.run_lock.RunLocked` naming the
    process that holds it), held until the state is closed.
    """
    out = Path(run_dir).expanduser()
    if not (out / STORE_FILE).is_file():
        if any((out / name).exists() for name in OLD_FORMAT_FILES):
            raise InputError(old_format_message(out))
        raise InputError(f"{str(out)!r} is not an autoal run folder (no {STORE_FILE}); pass the folder a run wrote")
    lock = WriterLock.acquire(out) if writer else None
    try:
        return RunState(RunStore.open(out / STORE_FILE), out, lock=lock)
    except BaseException:
        if lock is not None:
            lock.release()
        raise


class RunState:
    """One run's store, examples and annotator names; the steps' single way to read and write state.

    Parameters
    ----------
    store : RunStore
        The run's open store.
    folder : Path
        The run folder.
    """

    def __init__(self, store: RunStore, folder, data: PreparedData | None = None, *, lock: WriterLock | None = None):
        self.store, self.folder, self.lock = store, Path(folder), lock
        meta = store.meta()
        self.settings = meta["settings"]
        self.label = meta["label"]
        self.data = data if data is not None else _read_or_damaged(self, meta)
        self.classes = self.data.classes
        self.class_index = {c: k for k, c in enumerate(self.classes)}
        self.ids = self.data.frame.index
        self._names = list(dict.fromkeys(list(self.settings.get("annotator_names", [])) + [GIVEN]))
        self._annotations = None
        self._edits = None

    def _read_data(self, meta) -> PreparedData:
        frame, initial, test = self.store.read_examples(self.label)
        order = [c for c in meta["column_order"] if c in frame.columns]
        frame, test = frame[order], test[order]
        frame.index.name = test.index.name = meta.get("index_name")
        return PreparedData(frame, test, list(meta["classes"]), initial, meta["mode"] == "simulation",
                            meta["holdout"], [tuple(d) for d in meta["dropped"]])

    # -- creating ----------------------------------------------------------------------------------

    @classmethod
    def create(cls, folder, data: PreparedData, settings: dict, *, given_labels=True) -> "RunState":
        """Make the run folder's store for ``data`` and ``settings`` and return its state.

        In real mode the labels ``data`` arrived with are stored as annotator ``"given"`` with the
        store itself (``given_labels``). ``settings.json`` is written afterwards, as a copy for people.
        The state holds the run's :class:`~autoal.store.run_lock.WriterLock` (taken before the store is
        made) until it is closed.
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        lock = WriterLock.acquire(folder)
        try:
            refusal = store_in_the_way(folder)  # checked again under the lock: two runs started on one folder
            if refusal:
                raise InputError(refusal)
            return cls._create(folder, data, settings, given_labels, lock)
        except BaseException:
            lock.release()
            raise

    @classmethod
    def _create(cls, folder, data, settings, given_labels, lock) -> "RunState":
        label = settings["label"]
        class_index = {c: k for k, c in enumerate(data.classes)}
        given = []
        if given_labels and not data.simulation and len(data.initial_ids):
            positions = data.frame.index.get_indexer(pd.Index(data.initial_ids, dtype=object))
            classes = data.frame[label].to_numpy()[positions]
            given = [(p, GIVEN, class_index[c], 0) for p, c in zip(positions.tolist(), classes)]
        meta = {"settings": settings, "label": label, "classes": data.classes, "mode": "simulation" if data.simulation else "real",
                "holdout": data.holdout, "dropped": [list(d) for d in data.dropped], "index_name": data.frame.index.name,
                "column_order": list(data.frame.columns)}
        meta = json.loads(json.dumps(meta, default=json_default))
        store = RunStore.create(folder / STORE_FILE, meta=meta, data=data, label=label, annotations=given)
        state = cls(store, folder, data, lock=lock)
        state.write_settings_copy()
        return state

    def write_settings_copy(self) -> None:
        """Write ``settings.json`` (a readable copy; the store holds the settings that count)."""
        write_json_atomic(self.folder / "settings.json", dict(self.settings, run_id=self.store.run_id))

    def update_settings(self, **changes) -> None:
        """Change saved settings (e.g. ``n_rounds`` on resume) in the store and its readable copy."""
        self.settings.update(changes)
        self.store.set_meta("settings", json.loads(json.dumps(self.settings, default=json_default)))
        self.write_settings_copy()

    # -- ids and classes ---------------------------------------------------------------------------

    def positions(self, ids) -> np.ndarray:
        """Positions of pool examples ``ids`` (InputError naming the unknown ones)."""
        found = self.ids.get_indexer(pd.Index(list(ids), dtype=object) if len(ids) else pd.Index([]))
        if (found < 0).any():
            unknown = [i for i, p in zip(ids, found) if p < 0]
            raise InputError(f"examples {unknown[:5]} are not in this run's pool")
        return found.astype(np.int64)

    def ids_of(self, positions) -> list:
        """The ids of the pool examples at ``positions``."""
        return self.ids[np.asarray(positions, dtype=np.int64)].tolist()

    @property
    def names(self) -> list:
        """Annotator names known to the run: its annotators, ``"given"``, then any others found in the store."""
        return list(self._names)

    # -- snapshots ---------------------------------------------------------------------------------

    def _refresh(self) -> dict:
        """The store's annotations, with annotator codes, reading only those added since the last call."""
        edits = self.store.edits()
        if self._annotations is None or edits != self._edits:
            self._annotations, self._edits = self._with_codes(self.store.annotations_after(0)), edits
        else:
            last = int(self._annotations["seq"][-1]) if len(self._annotations["seq"]) else 0
            new = self.store.annotations_after(last)
            if len(new["seq"]):
                new = self._with_codes(new)
                self._annotations = {k: np.concatenate([v, new[k]]) for k, v in self._annotations.items()}
        return self._annotations

    def _with_codes(self, rows: dict) -> dict:
        rows["code"] = self._codes(rows["annotator"])
        return rows

    def _codes(self, names: np.ndarray) -> np.ndarray:
        unknown = [n for n in dict.fromkeys(names.tolist()) if n not in self._names]
        self._names.extend(unknown)
        return pd.Index(self._names).get_indexer(names).astype(np.int64) if len(names) else np.zeros(0, dtype=np.int64)

    def snapshot(self) -> Snapshot:
        """The annotations, assignments and skips as they are in the store now."""
        annotations = self._refresh()
        assigned, skipped = self.store.assignments(), self.store.skips()
        codes = annotations["code"], self._codes(assigned["annotator"]), self._codes(skipped["annotator"])
        return Snapshot(len(self.ids), tuple(self._names), annotations["seq"], annotations["example"], codes[0],
                        annotations["label"], annotations["round"], annotations["timestamp"], assigned["round"], assigned["example"], codes[1],
                        skipped["example"], codes[2])

    def labels_table(self, snapshot: Snapshot | None = None) -> pd.DataFrame:
        """Every annotation: ``example_id, annotator, label, round, timestamp`` in the order given."""
        snap = snapshot or self.snapshot()
        return pd.DataFrame({"example_id": self.ids_of(snap.example),
                             "annotator": np.array(snap.names, dtype=object)[snap.annotator],
                             "label": np.asarray(self.classes)[snap.label] if len(snap.label) else [],
                             "round": snap.round, "timestamp": snap.timestamp})

    # -- writing -----------------------------------------------------------------------------------

    def add_label(self, position, annotator, class_idx, round) -> None:
        """Commit one answer now (DuplicateAnnotation if this annotator already labelled the example)."""
        self.store.add(position, annotator, class_idx, round)

    def skip(self, position, annotator, round) -> None:
        """Commit that ``annotator`` could not label the example; it is not asked of them again."""
        self.store.skip(position, annotator, round)

    def assign(self, round, pairs, probabilities=None, facts=None) -> None:
        """Commit a round's ``(position, annotator)`` assignments (with the picking model's probabilities and
        facts about the selection, in the same transaction)."""
        self.store.assign(round, pairs, probabilities=probabilities, facts=facts)

    def close(self) -> None:
        """Close the store and give back the run's writer lock, if this state holds it."""
        self.store.close()
        if self.lock is not None:
            self.lock.release()


def _read_or_damaged(state, meta) -> PreparedData:
    """The run's examples, or DamagedStore when their rows cannot be decoded (ids, labels or columns)."""
    try:
        return state._read_data(meta)
    except (ValueError, TypeError, KeyError, IndexError, sqlite3.DatabaseError) as exc:
        raise DamagedStore(f"the run store {str(state.store.path)!r} is damaged: its examples cannot be read "
                           f"({type(exc).__name__}: {str(exc)[:120]}); restore run.sqlite from a copy, or start a "
                           "new run") from None
