"""Predict the unlabelled pool in this process or spread over the workers of a Ray cluster (the ``scoring`` option).

:func:`predict_pool` is what the loop calls each round. With ``scoring=None`` it is just
``learner.predict_proba(df)``; with Ray the pool is cut into contiguous shards, one Ray task per
shard, and the probabilities are put back together in row order, equal to the single-process result.

For the embeddings learner the costly part is the network, so only the images missing from the
embedding cache are spread over the workers; each returns its vectors, this process (the driver)
writes them to the cache (the only writer) and the classifier head predicts here.

Workers read image files (and checkpoint or model folders) by the paths this process uses, so on a
cluster of several machines those paths must be on a shared filesystem, and autoal with its
dependencies must be installed on every node (or shipped with ``runtime_env``).
"""

from __future__ import annotations

import os
import re
import socket
import time

import numpy as np
import pandas as pd

from autoal.common.checks import POSITIVE_INT, check_option
from autoal.errors import InputError, MissingDependencyError

__all__ = ["predict_pool", "make_scorer", "check_scoring", "RayScorer"]

#: How to write ``scoring``, for error messages.
SCORING_FORMS = "None or 'local' (this process), 'ray' (a local Ray runtime), 'auto', 'ray://host:port' or 'host:port'"
RAY_CLIENT_PORT = 10001
_ADDRESS = re.compile(r"^(?P<scheme>ray://)?(?P<host>[A-Za-z0-9_.\-]+|\[[0-9A-Fa-f:]+\])(?::(?P<port>\d{1,5}))?$")


def _import_ray():
    try:
        import ray
    except ImportError as exc:
        raise MissingDependencyError(f"scoring with Ray needs the ray package ({exc}); install it with "
                                     "`pip install 'ray>=2.9'`, or use scoring=None") from exc
    return ray


class RayScorer:
    """Predict a pool with Ray tasks, one contiguous shard per worker.

    Parameters
    ----------
    address : str, optional
        ``None`` starts a local Ray runtime on this machine (``num_cpus``: ``num_workers`` or all
        CPUs); ``"auto"`` joins the cluster this machine belongs to (started with ``ray start``);
        ``"ray://host:port"`` connects with Ray Client (port 10001 by default); ``"host:port"``
        joins through the head's GCS port (6379 by default). When Ray is already initialised in this
        process it is used as it is, whatever ``address`` says.
    num_workers : int, optional
        Shards per call; default: the CPUs the cluster reports. Never more than the pool's rows.
    connect_timeout : float
        Seconds to wait for the address to answer before giving up with :class:`InputError`.
    runtime_env : dict, optional
        Ray runtime environment for the workers (for example ``{"env_vars": {...}}`` or
        ``{"py_modules": [...]}``) when autoal is not installed on the cluster's nodes.
    object_store_memory : int, optional
        Bytes of object store for a local runtime this scorer starts; default: Ray's.

    Attributes
    ----------
    last_info_ : dict
        About the last call: ``scoring`` (``"ray"``), ``address``, ``workers`` (shards run), ``rows``,
        ``embedded`` (images embedded on workers, embeddings learner only; else absent) and ``seconds``.

    Examples
    --------
    >>> scorer = RayScorer("ray://head-node:10001")              # doctest: +SKIP
    >>> probs = predict_pool(learner, pool, scorer)              # doctest: +SKIP
    >>> scorer.last_info_                                        # doctest: +SKIP
    {'scoring': 'ray', 'address': 'ray://head-node:10001', 'workers': 16, 'rows': 50000, 'seconds': 41.2}
    """

    def __init__(self, address=None, num_workers=None, *, connect_timeout=5.0, runtime_env=None,
                 object_store_memory=None):
        if address is not None:
            _parse_address(address)
        check_option("num_workers", num_workers, POSITIVE_INT, None, hint="None uses all the CPUs Ray reports")
        self.address = address
        self.num_workers = num_workers
        self.connect_timeout = connect_timeout
        self.runtime_env = runtime_env
        self.object_store_memory = object_store_memory
        self.started_ = False
        self.last_info_ = {}

    def __repr__(self) -> str:
        return f"RayScorer(address={self.address!r}, num_workers={self.num_workers!r})"

    # -- connecting -------------------------------------------------------------------------------

    def connect(self):
        """Initialise Ray in this process (once) and return the ``ray`` module.

        Raises
        ------
        MissingDependencyError
            When ray is not installed.
        InputError
            When the address does not answer.
        """
        ray = _import_ray()
        if ray.is_initialized():
            return ray
        options = {"log_to_driver": False, "runtime_env": self.runtime_env}
        if self.address is None:
            options.update(num_cpus=self.num_workers or os.cpu_count(), include_dashboard=False,
                           object_store_memory=self.object_store_memory)
        else:
            _check_reachable(self.address, self.connect_timeout)
        try:
            ray.init(address=self.address, **options)
        except (ConnectionError, TimeoutError, SystemExit) as exc:  # Ray exits when the GCS never answers
            raise _unreachable(self.address, exc) from None
        self.started_ = True
        return ray

    def shutdown(self) -> None:
        """Disconnect from Ray if this scorer initialised it (a local runtime stops with it)."""
        if self.started_:
            _import_ray().shutdown()
            self.started_ = False

    # -- scoring ----------------------------------------------------------------------------------

    def predict(self, learner, df: pd.DataFrame) -> np.ndarray:
        """``learner.predict_proba(df)`` computed on Ray workers; fills :attr:`last_info_`.

        Returns
        -------
        ndarray, shape (len(df), len(learner.classes))
        """
        from autoal.learners.embeddings import EmbeddingLearner

        started = time.perf_counter()
        ray = self.connect()
        info = {"scoring": "ray", "address": self.address, "workers": 0, "rows": len(df)}
        if isinstance(learner, EmbeddingLearner):
            probs = self._predict_embeddings(ray, learner, df, info)
        else:
            probs = self._predict_shards(ray, learner, df, info)
        info["seconds"] = round(time.perf_counter() - started, 3)
        self.last_info_ = info
        return probs

    def _n_shards(self, ray, n_rows: int) -> int:
        n = self.num_workers or int(ray.cluster_resources().get("CPU", 1))
        return max(1, min(n, n_rows))

    def _predict_shards(self, ray, learner, df, info) -> np.ndarray:
        if len(df) == 0:
            return learner.predict_proba(df)
        shards = _split(len(df), self._n_shards(ray, len(df)))
        learner_ref = ray.put(learner.worker_copy())
        task = ray.remote(num_cpus=1)(_predict_shard)
        refs = [task.remote(learner_ref, df.iloc[a:b]) for a, b in shards]
        info["workers"] = len(refs)
        return np.concatenate(ray.get(refs), axis=0)

    def _predict_embeddings(self, ray, learner, df, info) -> np.ndarray:
        info["embedded"] = 0

        def embed(paths, backbone):
            shards = _split(len(paths), self._n_shards(ray, len(paths)))
            copy_ref = ray.put(learner.worker_copy())
            task = ray.remote(num_cpus=1)(_embed_shard)
            results = ray.get([task.remote(copy_ref, paths[a:b], backbone) for a, b in shards])
            _check_backbones(learner.embedders[backbone].backbone_id, [name for name, _ in results])
            info.update(workers=len(shards), embedded=info["embedded"] + len(paths))
            return np.concatenate([vectors for _, vectors in results], axis=0)

        return learner.predict_proba(df, embed=embed)


# -- worker side ----------------------------------------------------------------------------------


def _predict_shard(learner, shard: pd.DataFrame) -> np.ndarray:
    """Ray task: one shard's probabilities."""
    return learner.predict_proba(shard)


def _embed_shard(learner, paths, backbone) -> tuple:
    """Ray task: the id of the learner's ``backbone``-th network and its embeddings of ``paths`` (nothing is
    written to the cache)."""
    embedder = learner.embedders[backbone]
    return embedder.backbone_id, embedder.embed(paths)


# -- helpers --------------------------------------------------------------------------------------


def _split(n: int, parts: int) -> list:
    """``parts`` contiguous (start, stop) ranges covering ``range(n)``, sizes differing by at most one."""
    bounds = np.linspace(0, n, parts + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


def _check_backbones(expected: str, got: list) -> None:
    wrong = sorted(set(got) - {expected})
    if wrong:
        raise InputError(f"Ray workers embedded with backbone {wrong[0]!r}, not this process's {expected!r}: the "
                         "checkpoint folder differs on the cluster's nodes; put it on a shared filesystem")


def _parse_address(address):
    """(host, port) of an address string, ``(None, None)`` for ``"auto"``; InputError when malformed."""
    if address == "auto":
        return None, None
    match = _ADDRESS.match(address) if isinstance(address, str) else None
    if match is None or not (match["scheme"] or match["port"]) or not 0 < int(match["port"] or 1) < 65536:
        raise InputError(f"unknown scoring {address!r}; use {SCORING_FORMS}, or a RayScorer")
    return match["host"].strip("[]"), int(match["port"] or RAY_CLIENT_PORT)


def _check_reachable(address: str, timeout: float) -> None:
    """Fail fast (a TCP connect) where Ray itself would retry for minutes."""
    host, port = _parse_address(address)
    if host is None:
        return
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        raise _unreachable(address, exc) from None


def _unreachable(address, exc) -> InputError:
    reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return InputError(f"cannot reach a Ray cluster at {address!r} ({reason}); start one with `ray start --head` "
                      "(for Ray Client connect to ray://<head>:10001), check the address and firewall, or use "
                      "scoring=None to score in this process")


def check_scoring(scoring) -> None:
    """Raise InputError unless ``scoring`` is one of the forms :func:`make_scorer` takes (no scorer is made)."""
    if scoring is None or scoring in ("local", "ray") or isinstance(scoring, RayScorer):
        return
    if isinstance(scoring, str):
        _parse_address(scoring)
        return
    raise InputError(f"unknown scoring {scoring!r}; use {SCORING_FORMS}, or a RayScorer")


def make_scorer(scoring=None):
    """The scorer that ``scoring`` names: ``None`` for this process, else a :class:`RayScorer`.

    Parameters
    ----------
    scoring : None, str or RayScorer
        ``None`` or ``"local"``: this process. ``"ray"``: a local Ray runtime (or the one already
        initialised). ``"auto"``, ``"ray://host:port"`` or ``"host:port"``: that Ray cluster. A
        :class:`RayScorer` is returned as it is. Nothing connects until the first prediction.

    Raises
    ------
    InputError
        When ``scoring`` is none of these.
    """
    check_scoring(scoring)
    if scoring is None or scoring == "local":
        return None
    if isinstance(scoring, RayScorer):
        return scoring
    return RayScorer() if scoring == "ray" else RayScorer(address=scoring)


def predict_pool(learner, df: pd.DataFrame, scoring=None) -> np.ndarray:
    """Class probabilities of the pool ``df``, in this process or on Ray workers.

    Parameters
    ----------
    learner : Learner
        A fitted learner; Ray workers get its :meth:`~autoal.learners.Learner.worker_copy`.
    df : DataFrame
        The rows to score.
    scoring : None, str or RayScorer
        Where to compute, see :func:`make_scorer`. Pass the same :class:`RayScorer` every round to
        read its ``last_info_`` (workers, seconds) after each call.

    Returns
    -------
    ndarray, shape (len(df), len(learner.classes))
        Equal (to float precision) to ``learner.predict_proba(df)``.

    Raises
    ------
    InputError
        When ``scoring`` is not understood or its Ray cluster cannot be reached.
    MissingDependencyError
        When Ray scoring is asked for and ray is not installed.
    """
    scorer = make_scorer(scoring)
    if scorer is None:
        return learner.predict_proba(df)
    return scorer.predict(learner, df)
