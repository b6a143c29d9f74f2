"""dlbook.graphs against independent references: brute-force walk listing
(written here, by enumerating vertex sequences), networkx, and PyTorch Geometric."""

import itertools

import networkx as nx
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from dlbook import graphs
from dlbook.data import random_graph, random_regular_edge_index, random_regular_graph


def walks_by_sequences(adjacency: np.ndarray, k: int) -> np.ndarray:
    """Count walks by trying every vertex sequence v0..vk (n**(k+1) of them)."""
    n = adjacency.shape[0]
    counts = np.zeros((n, n), dtype=np.int64)
    for seq in itertools.product(range(n), repeat=k + 1):
        if all(adjacency[a, b] for a, b in zip(seq, seq[1:])):
            counts[seq[0], seq[-1]] += 1
    return counts


small_adjacency = st.integers(1, 5).flatmap(
    lambda n: arrays(np.int64, (n, n), elements=st.integers(0, 1))
)


@st.composite
def symmetric_adjacency(draw):
    a = draw(small_adjacency)
    upper = np.triu(a, 1)
    return upper + upper.T


@given(small_adjacency, st.integers(0, 4))
def test_count_walks_matches_sequence_enumeration_directed(a, k):
    expected = walks_by_sequences(a, k)
    np.testing.assert_array_equal(graphs.count_walks(a, k), expected)
    np.testing.assert_array_equal(graphs.count_walks_brute_force(a, k), expected)


@given(symmetric_adjacency(), st.integers(0, 4))
def test_count_walks_matches_sequence_enumeration_undirected(a, k):
    np.testing.assert_array_equal(graphs.count_walks(a, k), walks_by_sequences(a, k))


@given(small_adjacency, st.integers(0, 4))
def test_torch_input_gives_same_counts_as_torch(a, k):
    result = graphs.count_walks(torch.from_numpy(a), k)
    assert isinstance(result, torch.Tensor) and result.dtype == torch.int64
    np.testing.assert_array_equal(result.numpy(), walks_by_sequences(a, k))


@pytest.mark.parametrize("directed", [False, True])
def test_count_walks_matches_networkx(directed):
    a = random_graph(9, 0.35, directed=directed, seed=4)
    graph = nx.from_numpy_array(a, create_using=nx.DiGraph if directed else nx.Graph)
    for k in range(5):
        reference = nx.number_of_walks(graph, k)
        expected = np.array([[reference[i][j] for j in range(9)] for i in range(9)])
        np.testing.assert_array_equal(graphs.count_walks(a, k), expected)


def test_count_walks_stays_exact_beyond_int64():
    complete = np.ones((4, 4), dtype=np.int64)  # every count is 4**(k-1)
    counts = graphs.count_walks(complete, 40)
    assert counts[0, 0] == 4**39 and counts.dtype == object
    with pytest.raises(OverflowError, match="int64"):
        graphs.count_walks(torch.ones(4, 4, dtype=torch.int64), 40)


@given(small_adjacency, st.integers(0, 5))
def test_walk_exists_is_support_of_walk_counts(a, k):
    np.testing.assert_array_equal(graphs.walk_exists(a, k), walks_by_sequences(a, k) > 0)


@given(small_adjacency, st.integers(0, 4))
def test_linear_gnn_outputs_walk_counts_into_each_node(a, k):
    counts = walks_by_sequences(a, k)
    # Row j is node j's output; its entry i counts walks i -> j.
    np.testing.assert_array_equal(graphs.linear_gnn(a, k, "sum"), counts.T)
    np.testing.assert_array_equal(graphs.linear_gnn(a, k, "max"), (counts > 0).T)


def test_propagate_max_on_a_directed_path():
    a = np.array([[0, 1, 0], [0, 0, 1], [0, 0, 0]])
    h = np.array([[5.0], [2.0], [7.0]])
    np.testing.assert_array_equal(graphs.propagate(a, h, "max"), [[0.0], [5.0], [2.0]])
    np.testing.assert_array_equal(graphs.propagate(a, h, "sum"), [[0.0], [5.0], [2.0]])


@given(symmetric_adjacency())
def test_normalized_adjacency_matches_formula_and_is_bounded(a):
    n = a.shape[0]
    a_tilde = a + np.eye(n)
    d = a_tilde.sum(axis=1)
    expected = a_tilde / np.sqrt(np.outer(d, d))
    result = graphs.normalized_adjacency(a)
    np.testing.assert_allclose(result, expected)
    # Similar to the random-walk matrix D^-1 A~, so its spectrum lies in [-1, 1].
    eigenvalues = np.linalg.eigvalsh(result)
    assert eigenvalues.max() <= 1 + 1e-12 and eigenvalues.min() >= -1 - 1e-12
    assert np.isclose(eigenvalues.max(), 1.0)


def test_normalized_adjacency_matches_pytorch_geometric():
    gcn_norm = pytest.importorskip("torch_geometric.nn.conv.gcn_conv").gcn_norm
    a = random_graph(12, 0.3, seed=1)
    a[0, :] = a[:, 0] = 0  # an isolated node too
    edge_index = graphs.as_edge_index(a)
    ei, weight = gcn_norm(edge_index, num_nodes=12, add_self_loops=True)
    dense = torch.zeros(12, 12, dtype=torch.float64)
    dense[ei[0], ei[1]] = weight.double()
    np.testing.assert_allclose(graphs.normalized_adjacency(a), dense.T.numpy(), atol=1e-6)


def test_normalized_adjacency_without_self_loops_and_torch_dtypes():
    a = np.array([[0, 1, 0], [1, 0, 0], [0, 0, 0]])
    result = graphs.normalized_adjacency(a, self_loops=False)
    np.testing.assert_allclose(result, [[0, 1, 0], [1, 0, 0], [0, 0, 0]])
    t = graphs.normalized_adjacency(torch.tensor(a, dtype=torch.float64))
    assert t.dtype == torch.float64
    assert graphs.normalized_adjacency(torch.tensor(a)).dtype == torch.get_default_dtype()


def test_sum_aggregate_equals_dense_product():
    a = random_graph(15, 0.2, directed=True, seed=2)
    h = torch.randn(15, 4, dtype=torch.float64)
    out = graphs.sum_aggregate(graphs.as_edge_index(a), h)
    torch.testing.assert_close(out, torch.from_numpy(a).double().T @ h)


def test_random_graph_generators():
    assert (random_graph(10, 0.5, seed=0) == random_graph(10, 0.5, seed=0)).all()
    undirected = random_graph(10, 0.5, seed=3)
    assert (undirected == undirected.T).all() and not np.diag(undirected).any()
    regular = random_regular_graph(10, 3, seed=0)
    assert (regular.sum(axis=1) == 3).all()
    with pytest.raises(ValueError, match="regular"):
        random_regular_graph(5, 3)
    edges = random_regular_edge_index(10, 3, seed=0)
    assert edges.shape == (2, 30)
    assert (torch.bincount(edges[1], minlength=10) == 3).all()
    dense = torch.zeros(10, 10, dtype=torch.long)
    dense[edges[0], edges[1]] = 1
    assert (dense == dense.T).all() and dense.sum() == 30
    with pytest.raises(ValueError, match="probability"):
        random_graph(4, 1.5)


# ---- invalid input -------------------------------------------------------

BAD_ADJACENCY = [
    (np.zeros((2, 3)), ValueError, "square"),
    (np.zeros(4), ValueError, "square"),
    (np.array([[0, 2], [1, 0]]), ValueError, "binary"),
    (np.array([[0, -1], [1, 0]]), ValueError, "binary"),
    (np.array([[0.0, 0.5], [1.0, 0.0]]), ValueError, "binary"),
    (torch.tensor([[0, 3], [0, 0]]), ValueError, "binary"),
    ([[0, 1], [1, 0]], TypeError, "numpy.ndarray or torch.Tensor"),
    (np.array([["0", "1"], ["1", "0"]]), TypeError, "numbers"),
]


@pytest.mark.parametrize("function", [graphs.count_walks, graphs.walk_exists,
                                      graphs.count_walks_brute_force, graphs.linear_gnn])
@pytest.mark.parametrize("adjacency, error, message", BAD_ADJACENCY)
def test_walk_functions_reject_bad_adjacency(function, adjacency, error, message):
    with pytest.raises(error, match=message):
        function(adjacency, 2)


@pytest.mark.parametrize("adjacency, error, message", BAD_ADJACENCY)
def test_normalized_adjacency_rejects_bad_adjacency(adjacency, error, message):
    with pytest.raises(error, match=message):
        graphs.normalized_adjacency(adjacency)


@pytest.mark.parametrize("function", [graphs.count_walks, graphs.walk_exists, graphs.linear_gnn])
@pytest.mark.parametrize("k, error", [(-1, ValueError), (1.0, TypeError), (True, TypeError)])
def test_walk_functions_reject_bad_lengths(function, k, error):
    with pytest.raises(error, match="walk length"):
        function(np.eye(3, dtype=int), k)


def test_normalized_adjacency_rejects_existing_self_loops():
    with pytest.raises(ValueError, match="self-loops"):
        graphs.normalized_adjacency(np.eye(3, dtype=int))


def test_propagate_and_sum_aggregate_reject_bad_arguments():
    a = np.eye(3, dtype=int)
    with pytest.raises(ValueError, match="aggregation"):
        graphs.propagate(a, np.eye(3), "mean")
    with pytest.raises(ValueError, match="one row per node"):
        graphs.propagate(a, np.eye(4), "sum")
    with pytest.raises(ValueError, match=r"\[2, E\]"):
        graphs.sum_aggregate(torch.zeros(3, 2, dtype=torch.long), torch.zeros(3, 1))
    with pytest.raises(ValueError, match="outside"):
        graphs.sum_aggregate(torch.tensor([[0], [5]]), torch.zeros(3, 1))


def test_directed_layer_sees_direction_and_has_size_free_weights():
    torch.manual_seed(0)
    layer = graphs.DirectedMessagePassing(3, 4).double()
    path = torch.tensor([[0, 1], [1, 2]])  # 0 -> 1 -> 2
    h = torch.randn(3, 3, dtype=torch.float64)
    forward, backward = layer(path, h), layer(path.flip(0), h)
    assert not torch.allclose(forward, backward)
    # Swapping the in- and out-weights is the same as reversing every edge.
    swapped = graphs.DirectedMessagePassing(3, 4).double()
    swapped.load_state_dict(layer.state_dict())
    swapped.in_weight.weight.data, swapped.out_weight.weight.data = (
        layer.out_weight.weight.data, layer.in_weight.weight.data)
    torch.testing.assert_close(swapped(path, h), backward)
    assert sum(p.numel() for p in layer.parameters()) == 3 * 3 * 4 + 4
