"""Inputs people really pass to dlbook.graphs: labels that are equal but typed
differently (colour refinement), and smooth surrogates at the edge of their
domain (finite gradients everywhere, boundary included)."""

import networkx as nx
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dlbook import graphs


def _triangle(labels):
    graph = nx.cycle_graph(3)
    nx.set_node_attributes(graph, dict(enumerate(labels)), "x")
    return graph


@pytest.mark.parametrize("first, second", [
    ((-0.0, 1, 1), (0.0, 1, 1)),
    ((1, 0, 0), (1.0, 0.0, 0.0)),
    ((True, False, False), (1, 0, 0)),
    ((np.float32(0.5), 2, 2), (0.5, np.int64(2), 2.0)),
    (((1, 0), (0, 1), (0, 1)), (np.array([1.0, 0.0]), torch.tensor([0, 1]), [0.0, 1.0])),
])
def test_isomorphic_triangles_with_equal_labels_are_not_separated(first, second):
    assert graphs.refinement_equivalent(_triangle(first), _triangle(second), node_attr="x")
    g1, g2 = _triangle(first), _triangle(second)
    assert {graphs.unfolding_tree(g1, v, 2, node_attr="x") for v in g1} \
        == {graphs.unfolding_tree(g2, v, 2, node_attr="x") for v in g2}


def test_different_labels_still_separate():
    assert not graphs.refinement_equivalent(_triangle((1, 0, 0)), _triangle((1, 1, 0)), node_attr="x")
    assert graphs.initial_colors(_triangle((2.5, "a", 2.5)), "x") in ({0: 0, 1: 1, 2: 0},
                                                                      {0: 1, 1: 0, 2: 1})


def test_nan_and_unhashable_labels_are_refused_by_name():
    with pytest.raises(ValueError, match="node 1 has a non-finite label nan"):
        graphs.color_refinement(_triangle((0.0, float("nan"), 1.0)), node_attr="x")
    with pytest.raises(TypeError, match="node 0 has an unhashable label of type dict"):
        graphs.color_refinement(_triangle(({"a": 1}, 1, 1)), node_attr="x")


EQUAL_FORMS = [lambda v: v, float, lambda v: np.float64(v), lambda v: np.int32(v), lambda v: -0.0 if v == 0 else v]


@given(n=st.integers(2, 9), p=st.floats(0.2, 0.7), seed=st.integers(0, 10_000),
       data=st.data())
@settings(max_examples=60, deadline=None)
def test_random_graph_and_relabelled_copy_with_retyped_labels_are_equivalent(n, p, seed, data):
    graph = nx.gnp_random_graph(n, p, seed=seed)
    labels = data.draw(st.lists(st.integers(0, 2), min_size=n, max_size=n))
    nx.set_node_attributes(graph, dict(enumerate(labels)), "x")
    permutation = data.draw(st.permutations(range(n)))
    copy = nx.relabel_nodes(graph, dict(zip(range(n), permutation)))
    forms = data.draw(st.lists(st.sampled_from(range(len(EQUAL_FORMS))), min_size=n, max_size=n))
    for v, form in zip(copy, forms):
        copy.nodes[v]["x"] = EQUAL_FORMS[form](copy.nodes[v]["x"])
    copy = nx.convert_node_labels_to_integers(copy)
    for mode in ("multiset", "set", "distribution"):
        assert graphs.refinement_equivalent(graph, copy, node_attr="x", mode=mode)


# ---- finite gradients on the whole domain ---------------------------------------------

def test_power_max_gradient_is_finite_when_every_neighbour_sits_at_minus_bound():
    edges = torch.tensor([[0, 1], [2, 2]])          # nodes 0 and 1 send to node 2
    h = torch.tensor([[-1.0], [-1.0], [0.3]], dtype=torch.float64, requires_grad=True)
    out = graphs.approx_max_aggregate(edges, h, 4.0, method="power", bound=1.0)
    assert float(out[2, 0].detach()) == -1.0
    out.sum().backward()
    assert torch.isfinite(h.grad).all()
    # The gradient is a subgradient: f(h') >= f(h) + g.(h' - h) for h' in the domain.
    generator = torch.Generator().manual_seed(0)
    for _ in range(200):
        other = h.detach().clone()
        other[:2] = -1 + 2 * torch.rand(2, 1, dtype=torch.float64, generator=generator)
        value = graphs.approx_max_aggregate(edges, other, 4.0, method="power", bound=1.0)[2, 0]
        assert value >= out[2, 0].detach() + (h.grad[:2] * (other[:2] - h.detach()[:2])).sum() - 1e-12


@pytest.mark.parametrize("method, kwargs", [("logsumexp", {}), ("power", {"bound": 2.0})])
@pytest.mark.parametrize("offset", [1e-3, 0.5])
def test_approx_max_passes_gradcheck_near_and_at_the_domain_boundary(method, kwargs, offset):
    edges = torch.tensor([[0, 1, 2, 0], [2, 2, 0, 1]])
    # All neighbours of node 2 near the lower end of [-2, 2]; node 0 has one neighbour.
    h = torch.tensor([[-2 + offset, 1.0], [-2 + offset, -1.0], [0.5, 2 - offset]],
                     dtype=torch.float64, requires_grad=True)
    fn = lambda x: graphs.approx_max_aggregate(edges, x, 3.0, method=method, **kwargs)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (h,), eps=1e-6 * offset, atol=1e-6)


@given(st.lists(st.floats(-1, 1), min_size=1, max_size=6), st.sampled_from([1.0, 2.0, 8.0, 32.0]))
@settings(max_examples=60, deadline=None)
def test_smooth_max_surrogates_have_finite_gradients_everywhere(values, sharpness):
    n = len(values)
    edges = torch.stack([torch.arange(n), torch.full((n,), n)])
    h = torch.tensor(values + [0.0], dtype=torch.float64).unsqueeze(1).requires_grad_()
    for method, kwargs in (("logsumexp", {}), ("power", {"bound": 1.0})):
        out = graphs.approx_max_aggregate(edges, h, sharpness, method=method, **kwargs)
        (grad,) = torch.autograd.grad(out.sum(), h)
        assert torch.isfinite(out).all() and torch.isfinite(grad).all()


def test_power_sharpness_below_one_is_refused():
    edges = torch.tensor([[0], [1]])
    with pytest.raises(ValueError, match="sharpness p >= 1"):
        graphs.approx_max_aggregate(edges, torch.zeros(2, 1), 0.5, method="power", bound=1.0)


# ---- edge lists of every kind against PyTorch Geometric -------------------------------

@st.composite
def edge_lists(draw):
    """Directed edge lists with repeated edges, self-loops and isolated nodes."""
    n = draw(st.integers(1, 8))
    pairs = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=20))
    edges = torch.tensor(pairs, dtype=torch.long).reshape(-1, 2).T.contiguous()
    return n, edges


@given(edge_lists(), st.sampled_from([torch.float16, torch.bfloat16, torch.float32, torch.float64]))
@settings(max_examples=80, deadline=None)
def test_aggregations_match_pytorch_geometric_on_every_edge_list(graph, dtype):
    pyg_utils = pytest.importorskip("torch_geometric.utils")
    simple_conv = pytest.importorskip("torch_geometric.nn").SimpleConv
    n, edges = graph
    x = torch.arange(1.0, 3 * n + 1).reshape(n, 3).to(dtype)
    for how in ("sum", "mean", "max"):
        expected = pyg_utils.scatter(x[edges[0]], edges[1], dim=0, dim_size=n, reduce=how)
        torch.testing.assert_close(graphs.scatter_aggregate(edges, x, how), expected)
    torch.testing.assert_close(graphs.sum_aggregate(edges, x), simple_conv(aggr="sum")(x, edges))
    torch.testing.assert_close(graphs.mean_aggregate_generic(edges, x.double()),
                               simple_conv(aggr="mean")(x.double(), edges))


@given(st.integers(2, 7), st.integers(0, 10_000))
@settings(max_examples=40, deadline=None)
def test_count_walks_of_directed_multigraphs_is_refused_or_matches_networkx(n, seed):
    graph = nx.gnp_random_graph(n, 0.4, seed=seed, directed=True)
    a = nx.to_numpy_array(graph, dtype=np.int64)
    expected = np.linalg.matrix_power(a, 3)
    np.testing.assert_array_equal(graphs.count_walks(a, 3), expected)
    if a.any():
        doubled = a.copy()
        doubled[np.nonzero(a)[0][0], np.nonzero(a)[1][0]] = 2        # a repeated edge
        with pytest.raises(ValueError, match="binary"):
            graphs.count_walks(doubled, 3)
    with pytest.raises(TypeError, match="dense matrix here, got layout torch.sparse_coo"):
        graphs.count_walks(torch.from_numpy(a).to_sparse(), 3)


def test_multigraph_refinement_counts_repeated_edges():
    simple = nx.MultiGraph([(0, 1), (1, 2)])
    doubled = nx.MultiGraph([(0, 1), (0, 1), (1, 2)])
    assert not graphs.refinement_equivalent(simple, doubled, mode="multiset")
    assert graphs.refinement_equivalent(simple, doubled, mode="set")
    # A MultiGraph without repeated edges refines like the simple Graph.
    assert graphs.refinement_equivalent(nx.Graph(simple), simple)
    with pytest.raises(TypeError, match="got DiGraph"):
        graphs.color_refinement(nx.DiGraph([(0, 1)]))


# --- from a networkx graph to a GCN layer, as a user writes it ---------------


def test_from_a_networkx_graph_to_a_gcn_layer_as_a_user_writes_it():
    # the path: karate club (its edges carry weights) -> Â -> layer,
    # with float32 features; it took four fixes before
    pyg = pytest.importorskip("torch_geometric.nn")
    graph = nx.karate_club_graph()
    a_hat = graphs.normalized_adjacency(graph)
    features = torch.eye(graph.number_of_nodes())
    weight = torch.randn(4, graph.number_of_nodes())
    out = graphs.gcn_layer(a_hat, features, weight, activation="relu")
    assert out.dtype == torch.float32 and out.shape == (34, 4)

    conv = pyg.GCNConv(34, 4, bias=False)
    with torch.no_grad():
        conv.lin.weight.copy_(weight)
    edges = torch.tensor(list(graph.edges)).T
    edge_index = torch.cat([edges, edges.flip(0)], dim=1)  # both directions
    torch.testing.assert_close(out, torch.relu(conv(features, edge_index)))


def test_a_networkx_graph_gives_its_binary_adjacency_in_node_order():
    graph = nx.Graph()
    graph.add_edge("b", "a", weight=5.0)
    graph.add_edge("a", "c", weight=0.5)
    ours = graphs.normalized_adjacency(graph)
    matrix = nx.to_numpy_array(graph, weight=None)  # nodes in list(graph) order
    np.testing.assert_allclose(ours, graphs.normalized_adjacency(matrix))
    assert list(graph) == ["b", "a", "c"]


@pytest.mark.parametrize("graph, message", [
    (nx.DiGraph([(0, 1)]), "symmetric"),
    (nx.MultiGraph([(0, 1), (0, 1)]), "multigraph"),
    (nx.Graph([(0, 0), (0, 1)]), "self-loops"),
])
def test_networkx_graph_kinds_that_a_gcn_refuses_are_named(graph, message):
    with pytest.raises(ValueError, match=message):
        graphs.normalized_adjacency(graph)


def test_a_weighted_matrix_is_refused_with_the_way_out():
    weighted = nx.to_numpy_array(nx.karate_club_graph())  # weights 1..7
    with pytest.raises(ValueError, match="pass the networkx graph itself"):
        graphs.normalized_adjacency(weighted)


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh", "identity"])
def test_the_usual_activations_are_accepted(activation):
    a_hat = graphs.normalized_adjacency(nx.path_graph(4))
    out = graphs.gcn_layer(a_hat, torch.randn(4, 3), torch.randn(2, 3), activation)
    reference = {"relu": torch.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh,
                 "identity": lambda z: z}[activation]
    x = torch.randn(4, 3)
    w = torch.randn(2, 3)
    z = torch.as_tensor(a_hat, dtype=torch.float32) @ x @ w.T
    torch.testing.assert_close(graphs.gcn_layer(a_hat, x, w, activation), reference(z))
    assert out.shape == (4, 2)
    with pytest.raises(ValueError, match="activation must be one of"):
        graphs.gcn_layer(a_hat, x, w, "gelu")
