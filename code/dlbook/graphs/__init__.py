"""Graphs as matrices: walk counting, normalized adjacency, message passing,
a GCN layer with a hand-written backward pass, aggregation and colour
refinement.

Conventions used throughout the book:

* ``adjacency[i, j] == 1`` means an edge from node ``i`` to node ``j``
  (for an undirected graph the matrix is symmetric).
* Node features are stored one node per row: ``features[j]`` is node ``j``.
* Functions accept NumPy arrays and torch tensors and answer in the same kind.

The package is split along the book's chapters; every public name is
re-exported here, so ``from dlbook.graphs import gcn_layer`` works:

* :mod:`dlbook.graphs.walks`: walk counting and linear message passing
  (path-counting);
* :mod:`dlbook.graphs.message_passing`: edge lists, sum aggregation,
  direction-aware layers, the permutation test (path-counting, gnn-layers);
* :mod:`dlbook.graphs.gcn`: normalization and the GCN layer, dense or sparse
  (karate-club);
* :mod:`dlbook.graphs.aggregation`: generic and approximate aggregation
  (aggregation-power);
* :mod:`dlbook.graphs.refinement`: colour refinement and unfolding trees
  (aggregation-power).
"""

from dlbook.graphs.aggregation import (
    approx_max_aggregate,
    approx_max_error_bound,
    distances_until_stable,
    generic_aggregate,
    mean_aggregate_generic,
    message_passing_distances,
    scatter_aggregate,
    shared_layer_readouts,
)
from dlbook.graphs.gcn import (
    GCNClassifier,
    GCNLayer,
    GCNLayerFunction,
    GCNTrainingHistory,
    gcn_layer,
    normalized_adjacency,
    train_gcn_classifier,
    train_gcn_classifiers,
)
from dlbook.graphs.message_passing import (
    DirectedMessagePassing,
    as_edge_index,
    is_permutation_invariant,
    sum_aggregate,
)
from dlbook.graphs.refinement import (
    color_refinement,
    initial_colors,
    refinement_equivalent,
    unfolding_tree,
)
from dlbook.graphs.walks import (
    count_walks,
    count_walks_brute_force,
    linear_gnn,
    propagate,
    walk_exists,
)

__all__ = [
    "approx_max_aggregate",
    "approx_max_error_bound",
    "as_edge_index",
    "color_refinement",
    "count_walks",
    "count_walks_brute_force",
    "DirectedMessagePassing",
    "distances_until_stable",
    "gcn_layer",
    "GCNClassifier",
    "GCNLayer",
    "GCNLayerFunction",
    "GCNTrainingHistory",
    "generic_aggregate",
    "initial_colors",
    "is_permutation_invariant",
    "linear_gnn",
    "mean_aggregate_generic",
    "message_passing_distances",
    "normalized_adjacency",
    "propagate",
    "refinement_equivalent",
    "scatter_aggregate",
    "shared_layer_readouts",
    "sum_aggregate",
    "train_gcn_classifier",
    "train_gcn_classifiers",
    "unfolding_tree",
    "walk_exists",
]
