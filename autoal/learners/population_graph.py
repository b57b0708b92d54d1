"""The embeddings learner's pool graph: the run's examples as nodes, the graph once opened, and its fitted heads.

One :class:`PopulationGraph` is made per run (:meth:`autoal.learners.EmbeddingLearner.set_population`) and shared by
the learner and its clones. It opens the run's :class:`~autoal.graph.pool_graph.PoolGraph` once (loaded from the
run folder when it was built for the same examples and settings, else built and saved), fits a
:class:`~autoal.learners.graph_head.GraphHead` on it for each fit, gives rows their place in the graph's space (where
the coverage pick measures distance) and turns a fitted head into the plain values a saved model keeps.
"""

from __future__ import annotations

import time

import numpy as np

from autoal.learners.graph_head import GraphHead
from autoal.common.json_values import plain_scalar

__all__ = ["PopulationGraph", "MIN_NODES"]

#: A pool of fewer examples is not linked (no graph).
MIN_NODES = 3


class PopulationGraph:
    """The run's examples as graph nodes, and the graph itself once opened; shared by a learner and its clones.

    Parameters
    ----------
    ids : sequence
        The run's example ids in position order (node ``i`` is ``ids[i]``).
    paths : sequence of str
        Their image paths (a row of another frame is a node only when its id and path both match).
    """

    def __init__(self, ids, paths):
        self.ids, self.paths = list(ids), list(paths)
        self.node_of = {key: i for i, key in enumerate(zip(self.ids, self.paths))}
        self.graph = None  # the PoolGraph, once loaded or built
        self.built, self.seconds = False, 0.0  # whether it was built (not loaded), and the seconds it took

    def nodes(self, ids, paths) -> np.ndarray:
        """The node of each row, -1 for rows outside the graph."""
        return np.fromiter((self.node_of.get(key, -1) for key in zip(ids, paths)), dtype=np.int64,
                           count=len(ids))

    def nodes_of(self, df, image_col):
        """``df``'s rows as nodes (-1 outside the graph), or None when the pool is too small to link."""
        if len(self.node_of) < MIN_NODES:
            return None
        return self.nodes(df.index.tolist(), df[image_col].tolist())

    def open(self, embed_population, settings: dict, folder) -> object:
        """The :class:`~autoal.graph.pool_graph.PoolGraph`, opened once: loaded from ``folder`` when it was built for
        the same examples and ``settings``, else built from ``embed_population()`` (the examples' embeddings, in
        node order) and saved there (``folder`` None: neither).

        ``settings`` holds the graph's options (``neighbours``, ``dims``, ``search``, ``seed``) and whatever else
        its embeddings depend on (the backbones, the image side); all of it goes into the graph's fingerprint.
        """
        if self.graph is None:
            from autoal.graph.pool_graph import PoolGraph, pool_fingerprint

            started = time.perf_counter()
            fingerprint = pool_fingerprint(self.ids, self.paths, settings)
            graph = PoolGraph.load(folder, fingerprint) if folder is not None else None
            self.built = graph is None
            if graph is None:
                graph = PoolGraph.build(embed_population(), n_neighbours=settings["neighbours"],
                                        dims=settings["dims"], method=settings["search"], fingerprint=fingerprint,
                                        random_state=settings["seed"])
                if folder is not None:
                    graph.save(folder)
            self.graph, self.seconds = graph, time.perf_counter() - started
        return self.graph

    def fit_head(self, open_graph, nodes, labels, n_classes, **options) -> tuple:
        """``(GraphHead, facts)``: :meth:`GraphHead.fit <autoal.learners.graph_head.GraphHead.fit>` on the graph
        (``open_graph()`` opens it), given the labelled rows' ``nodes`` and class numbers ``labels``; ``options``
        go to ``GraphHead.fit``. ``facts`` (for the fit's history row) say the mixture chosen, the seconds taken
        and, when this fit opened the graph, whether it was built and in how long."""
        opened_now = self.graph is None  # this fit loads or builds the graph
        graph = open_graph()
        started = time.perf_counter()
        head = GraphHead.fit(graph, nodes, labels, n_classes, **options)
        facts = {"graph_weight": round(head.weight, 3), "graph_temperature": head.temperature,
                 "graph_power": round(head.power, 3),
                 "graph_validation": head.n_validation, "graph_seconds": round(time.perf_counter() - started, 3),
                 "graph_build_seconds": round(self.seconds, 3) if opened_now else 0.0,
                 "graph_built": opened_now and self.built}
        return head, facts

    def space_points(self, nodes, embeddings_of) -> np.ndarray:
        """Rows in the opened graph's whitened space (:class:`~autoal.graph.space.WhitenedSpace`), given their
        ``nodes``: a pool row at its node's point, a row outside (-1) transformed from ``embeddings_of(rows)``
        (its embeddings, ``rows`` the positions among ``nodes``)."""
        graph = self.graph
        out = np.empty((len(nodes), graph.space.dims), dtype=np.float32)
        inside = nodes >= 0
        out[inside] = graph.points[nodes[inside]]
        if not inside.all():
            out[~inside] = graph.space.transform(embeddings_of(np.flatnonzero(~inside)))
        return out

    def head_state(self, head: GraphHead) -> tuple:
        """``head`` as plain values ``(state, arrays)``: its mixture, the pool's nodes (ids and image paths, so that a
        pool row is read at its own node as in the run) and, as arrays, every node's scores and the pool's points in
        the graph's space (what rows outside the pool are read through); the edges are not needed to predict."""
        graph = self.graph
        keys = sorted(self.node_of, key=self.node_of.get)
        state = {"weight": float(head.weight), "temperature": float(head.temperature), "scale": float(head.scale),
                 "power": float(head.power),
                 "n_validation": int(head.n_validation), "n_neighbours": int(graph.n_neighbours),
                 "method": graph.method, "ids": [plain_scalar(i) for i, _ in keys], "paths": [str(p) for _, p in keys]}
        arrays = {"graph_scores": head.scores, "graph_points": graph.points,
                  **graph.space.to_arrays(prefix="graph_space_")}
        return state, arrays

    @classmethod
    def from_head_state(cls, state: dict, arrays: dict) -> tuple:
        """``(PopulationGraph, GraphHead)`` rebuilt from :meth:`head_state`'s values (predicting only: the graph has
        no edges)."""
        import scipy.sparse as sp

        from autoal.graph.pool_graph import PoolGraph
        from autoal.graph.space import WhitenedSpace

        population = cls(state["ids"], state["paths"])
        points = np.asarray(arrays["graph_points"], dtype=np.float32)
        population.graph = PoolGraph(WhitenedSpace.from_arrays(arrays, prefix="graph_space_"), points,
                                     sp.csr_matrix((len(points), len(points))), int(state["n_neighbours"]), "",
                                     state["method"])
        head = GraphHead(np.asarray(arrays["graph_scores"], dtype=np.float64), float(state["scale"]),
                         float(state["weight"]), float(state["temperature"]), int(state["n_validation"]),
                         float(state.get("power", 1.0)))  # 1: a model saved before the calibration step
        return population, head
