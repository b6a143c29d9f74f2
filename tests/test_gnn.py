"""dlbook.graphs' GNN pieces (GCN layer, aggregations, colour refinement) and
dlbook.data.karate_club against independent references: PyTorch Geometric's
GCNConv, torch.autograd.gradcheck, torch's scatter_reduce, networkx's
Weisfeiler-Lehman hash and BFS distances."""

import itertools
import math

import networkx as nx
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from dlbook import graphs
from dlbook.data import karate_club, random_graph

# ---- the GCN layer -------------------------------------------------------------------


def _random_problem(n=7, d_in=5, d_out=3, seed=0, dtype=torch.float64):
    a = random_graph(n, 0.4, seed=seed)
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d_in, generator=generator, dtype=dtype)
    w = torch.randn(d_out, d_in, generator=generator, dtype=dtype)
    a_hat = torch.from_numpy(graphs.normalized_adjacency(a)).to(dtype)
    return a, a_hat, x, w


@pytest.mark.parametrize("seed", range(3))
def test_gcn_layer_equals_pytorch_geometric_gcnconv(seed):
    gcn_conv = pytest.importorskip("torch_geometric.nn").GCNConv
    a, a_hat, x, w = _random_problem(n=9, seed=seed, dtype=torch.float32)
    conv = gcn_conv(5, 3, bias=False)
    with torch.no_grad():
        conv.lin.weight.copy_(w)
    reference = conv(x, graphs.as_edge_index(a))
    ours = graphs.gcn_layer(a_hat, x, w, activation="identity")
    torch.testing.assert_close(ours, reference, atol=1e-6, rtol=0)
    torch.testing.assert_close(graphs.gcn_layer(a_hat, x, w), torch.tanh(reference), atol=1e-6, rtol=0)


@pytest.mark.parametrize("activation", ["tanh", "relu", "sigmoid", "identity"])
def test_gcn_backward_passes_gradcheck(activation):
    _, a_hat, x, w = _random_problem()
    inputs = tuple(t.clone().requires_grad_() for t in (a_hat, x, w))
    assert torch.autograd.gradcheck(lambda a, b, c: graphs.gcn_layer(a, b, c, activation), inputs)


def test_gcn_backward_equals_autograd_of_the_formula():
    _, a_hat, x, w = _random_problem(seed=1)
    upstream = torch.randn(7, 3, dtype=torch.float64)
    ours = [t.clone().requires_grad_() for t in (a_hat, x, w)]
    (graphs.gcn_layer(*ours) * upstream).sum().backward()
    plain = [t.clone().requires_grad_() for t in (a_hat, x, w)]
    (torch.tanh(plain[0] @ plain[1] @ plain[2].T) * upstream).sum().backward()
    for mine, theirs in zip(ours, plain):
        torch.testing.assert_close(mine.grad, theirs.grad)


def test_gcn_classifier_shapes_and_training_reduces_loss():
    torch.manual_seed(0)
    club = karate_club()
    a_hat = torch.from_numpy(graphs.normalized_adjacency(club.adjacency)).float()
    model = graphs.GCNClassifier(34, (16, 2), 2)
    assert model.embed(a_hat, torch.eye(34)).shape == (34, 2)
    labels = torch.from_numpy(club.labels)
    train = torch.ones(34, dtype=torch.bool)
    history = graphs.train_gcn_classifier(model, a_hat, torch.eye(34), labels, train, train,
                                          epochs=300, lr=0.2, weight_decay=1e-3)
    assert history.loss.shape == (300,) and history.loss[-1] < 0.5 * history.loss[0]
    assert history.train_accuracy[-1] > 0.9


def test_gcn_rejects_bad_arguments():
    _, a_hat, x, w = _random_problem()
    with pytest.raises(TypeError, match="floating-point"):
        graphs.gcn_layer(a_hat, x.long(), w)
    with pytest.raises(TypeError, match="floating-point"):
        graphs.gcn_layer(a_hat.numpy().astype(int), x, w)
    # a float NumPy Â (what normalized_adjacency returns for NumPy or
    # networkx input) is taken in the features' dtype
    torch.testing.assert_close(graphs.gcn_layer(a_hat.numpy(), x, w),
                               graphs.gcn_layer(a_hat, x, w))
    with pytest.raises(TypeError, match="share a dtype"):
        graphs.gcn_layer(a_hat.float(), x, w)
    with pytest.raises(ValueError, match="a_hat must be"):
        graphs.gcn_layer(a_hat[:5], x, w)
    with pytest.raises(ValueError, match="weight must be"):
        graphs.gcn_layer(a_hat, x, w.T)
    with pytest.raises(ValueError, match="matrix"):
        graphs.gcn_layer(a_hat, x[0], w)
    with pytest.raises(ValueError, match="activation"):
        graphs.gcn_layer(a_hat, x, w, "gelu")
    with pytest.raises(ValueError, match="d_in"):
        graphs.GCNLayer(0, 3)
    with pytest.raises(ValueError, match="activation"):
        graphs.GCNLayer(2, 3, "gelu")
    with pytest.raises(ValueError, match="hidden"):
        graphs.GCNClassifier(4, ())
    with pytest.raises(ValueError, match="num_classes"):
        graphs.GCNClassifier(4, (2,), 1)


@pytest.mark.parametrize("hidden", [(16, 2), (6, 4, 3)])
def test_batched_training_matches_one_model_at_a_time(hidden):
    """train_gcn_classifiers runs each model as train_gcn_classifier would:
    the same losses, accuracies and final weights to float rounding, and the
    weights are copied back into the models."""
    club = karate_club()
    a_hat = torch.from_numpy(graphs.normalized_adjacency(club.adjacency)).float()
    x, labels = torch.eye(34), torch.from_numpy(club.labels)
    test = torch.zeros(34, dtype=torch.bool)
    test[[0, 1, 3, 8, 15]] = True
    kwargs = dict(epochs=150, lr=0.05, weight_decay=0.01)
    batched, single = [], []
    for seed in range(3):
        torch.manual_seed(seed)
        batched.append(graphs.GCNClassifier(34, hidden, 2))
        torch.manual_seed(seed)
        single.append(graphs.GCNClassifier(34, hidden, 2))
    before = [p.detach().clone() for p in batched[0].parameters()]
    histories = graphs.train_gcn_classifiers(batched, a_hat, x, labels, ~test, test, **kwargs)
    assert len(histories) == 3
    assert not torch.equal(before[0], next(batched[0].parameters()))
    for model, reference, history in zip(single, batched, histories):
        expected = graphs.train_gcn_classifier(model, a_hat, x, labels, ~test, test, **kwargs)
        np.testing.assert_allclose(history.loss, expected.loss, rtol=1e-4, atol=1e-6)
        assert history.loss[-1] < history.loss[0]
        np.testing.assert_array_equal(history.train_accuracy, expected.train_accuracy)
        np.testing.assert_array_equal(history.eval_accuracy, expected.eval_accuracy)
        for p, q in zip(model.parameters(), reference.parameters()):
            torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5)


def test_batched_training_rejects_bad_arguments():
    a_hat, x = torch.eye(3), torch.eye(3)
    labels, mask = torch.tensor([0, 1, 0]), torch.ones(3, dtype=torch.bool)
    good = dict(epochs=1, lr=0.1)
    model = graphs.GCNClassifier(3, (2,), 2)
    with pytest.raises(TypeError, match="non-empty"):
        graphs.train_gcn_classifiers([], a_hat, x, labels, mask, mask, **good)
    with pytest.raises(ValueError, match="same shapes"):
        graphs.train_gcn_classifiers([model, graphs.GCNClassifier(3, (4,), 2)], a_hat, x,
                                     labels, mask, mask, **good)
    with pytest.raises(ValueError, match="dense"):
        graphs.train_gcn_classifiers([model], a_hat.to_sparse(), x, labels, mask, mask, **good)
    with pytest.raises(ValueError, match="selects no node"):
        graphs.train_gcn_classifiers([model], a_hat, x, labels, mask, ~mask, **good)
    with pytest.raises(ValueError, match="lr"):
        graphs.train_gcn_classifiers([model], a_hat, x, labels, mask, mask, epochs=1, lr=0.0)


def test_training_rejects_bad_arguments():
    model = graphs.GCNClassifier(3, (2,), 2)
    a_hat, x = torch.eye(3), torch.eye(3)
    labels, mask = torch.tensor([0, 1, 0]), torch.ones(3, dtype=torch.bool)
    good = dict(epochs=1, lr=0.1)
    with pytest.raises(TypeError, match="train_mask"):
        graphs.train_gcn_classifier(model, a_hat, x, labels, mask.long(), mask, **good)
    with pytest.raises(ValueError, match="one entry per node"):
        graphs.train_gcn_classifier(model, a_hat, x, labels, mask[:2], mask, **good)
    with pytest.raises(ValueError, match="selects no node"):
        graphs.train_gcn_classifier(model, a_hat, x, labels, mask, ~mask, **good)
    with pytest.raises(TypeError, match="labels"):
        graphs.train_gcn_classifier(model, a_hat, x, labels.float(), mask, mask, **good)
    with pytest.raises(ValueError, match="epochs"):
        graphs.train_gcn_classifier(model, a_hat, x, labels, mask, mask, epochs=0, lr=0.1)
    with pytest.raises(ValueError, match="lr"):
        graphs.train_gcn_classifier(model, a_hat, x, labels, mask, mask, epochs=1, lr=0.0)
    with pytest.raises(ValueError, match="weight_decay"):
        graphs.train_gcn_classifier(model, a_hat, x, labels, mask, mask, weight_decay=-1, **good)


# ---- permutation invariance ---------------------------------------------------------------

def _mean_rule(s, m):
    return 0.3 * s + 0.7 * m.mean(dim=0)


def _shared_max_rule(s, m):
    return torch.maximum(0.3 * s, (-1.2 * m).amax(dim=0))


def _position_max_rule(s, m):
    weights = torch.arange(2.0, 2.0 + m.shape[0], dtype=m.dtype).unsqueeze(1)
    return torch.maximum(0.3 * s, (weights * m).amax(dim=0))


@given(st.integers(1, 9), st.integers(0, 1000))
def test_permutation_check_accepts_valid_rules(n, seed):
    generator = torch.Generator().manual_seed(seed)
    s, m = torch.randn(3, generator=generator), torch.randn(n, 3, generator=generator)
    assert graphs.is_permutation_invariant(_mean_rule, s, m, atol=1e-6)
    assert graphs.is_permutation_invariant(_shared_max_rule, s, m)


@pytest.mark.parametrize("n", [3, 8])
def test_permutation_check_rejects_position_dependent_weights(n):
    generator = torch.Generator().manual_seed(n)
    s, m = torch.randn(3, generator=generator), torch.randn(n, 3, generator=generator)
    assert not graphs.is_permutation_invariant(_position_max_rule, s, m)
    # One neighbour: nothing to permute, so nothing can go wrong.
    assert graphs.is_permutation_invariant(_position_max_rule, s, m[:1])


def test_permutation_check_rejects_bad_arguments():
    s, m = torch.zeros(2), torch.zeros(3, 2)
    with pytest.raises(TypeError, match="callable"):
        graphs.is_permutation_invariant(None, s, m)
    with pytest.raises(TypeError, match="tensors"):
        graphs.is_permutation_invariant(_mean_rule, s, m.numpy())
    with pytest.raises(ValueError, match="non-empty"):
        graphs.is_permutation_invariant(_mean_rule, s, torch.zeros(0, 2))
    with pytest.raises(ValueError, match="trials"):
        graphs.is_permutation_invariant(_mean_rule, s, m, trials=0)


# ---- aggregations -------------------------------------------------------------------------

def _graph_and_features(seed, n=10, p=0.3, dtype=torch.float64):
    a = random_graph(n, p, seed=seed)
    generator = torch.Generator().manual_seed(seed)
    return graphs.as_edge_index(a), torch.rand(n, 3, generator=generator, dtype=dtype) * 2 - 1


@given(st.integers(0, 10_000))
def test_mean_from_generic_form_equals_scatter_mean(seed):
    edges, h = _graph_and_features(seed)
    torch.testing.assert_close(graphs.mean_aggregate_generic(edges, h),
                               graphs.scatter_aggregate(edges, h, "mean"))


def test_scatter_aggregate_matches_pytorch_geometric():
    scatter = pytest.importorskip("torch_geometric.utils").scatter
    edges, h = _graph_and_features(3, n=12, p=0.4)
    for how in ("sum", "mean", "max"):
        reference = scatter(h[edges[0]], edges[1], dim=0, dim_size=12, reduce=how)
        torch.testing.assert_close(graphs.scatter_aggregate(edges, h, how), reference)


@given(st.integers(0, 10_000), st.sampled_from([1.0, 5.0, 40.0]))
def test_approx_max_within_bound_logsumexp(seed, t):
    edges, h = _graph_and_features(seed)
    exact = graphs.scatter_aggregate(edges, h, "max")
    approx = graphs.approx_max_aggregate(edges, h, t)
    degree = torch.bincount(edges[1], minlength=h.shape[0]).numpy()
    bound = torch.from_numpy(graphs.approx_max_error_bound(degree, t)).unsqueeze(1)
    assert (approx >= exact - 1e-12).all() and (approx - exact <= bound + 1e-12).all()


@given(st.integers(0, 10_000), st.sampled_from([1.0, 8.0, 64.0]))
def test_approx_max_within_bound_power(seed, p):
    edges, h = _graph_and_features(seed)
    exact = graphs.scatter_aggregate(edges, h, "max")
    approx = graphs.approx_max_aggregate(edges, h, p, method="power", bound=1.0)
    degree = torch.bincount(edges[1], minlength=h.shape[0]).numpy()
    bound = graphs.approx_max_error_bound(degree, p, method="power", bound=1.0)
    assert (approx >= exact - 1e-9).all()
    assert (approx - exact <= torch.from_numpy(bound).unsqueeze(1) + 1e-9).all()


def test_approx_max_is_exact_for_one_neighbour_and_converges():
    edges = torch.tensor([[0, 1, 2], [3, 3, 3]])
    h = torch.tensor([[-0.5], [0.2], [0.1], [0.0]], dtype=torch.float64)
    errors = [float(graphs.approx_max_aggregate(edges, h, t)[3, 0]) - 0.2 for t in (1, 10, 100)]
    assert errors[0] > errors[1] > errors[2] > 0
    assert math.isclose(errors[2], math.log(1 + math.exp(-10) + math.exp(-70)) / 100)
    single = torch.tensor([[0], [1]])
    assert float(graphs.approx_max_aggregate(single, h[:2], 3.0)[1, 0]) == pytest.approx(-0.5)
    assert float(graphs.approx_max_aggregate(single, h[:2], 3.0)[0, 0]) == 0.0  # no neighbour


def test_aggregations_reject_bad_arguments():
    edges, h = _graph_and_features(0)
    with pytest.raises(ValueError, match="how"):
        graphs.scatter_aggregate(edges, h, "min")
    with pytest.raises(TypeError, match="int64"):
        graphs.scatter_aggregate(edges.float(), h, "sum")
    with pytest.raises(TypeError, match="torch tensors"):
        graphs.scatter_aggregate(edges, h.numpy(), "sum")
    with pytest.raises(ValueError, match=r"\[2, E\]"):
        graphs.mean_aggregate_generic(edges.T, h)
    with pytest.raises(ValueError, match="outside"):
        graphs.mean_aggregate_generic(edges + 100, h)
    with pytest.raises(ValueError, match="features must be a matrix"):
        graphs.mean_aggregate_generic(edges, h[:, 0])
    with pytest.raises(TypeError, match="callables"):
        graphs.generic_aggregate(edges, h, None, lambda x: x)
    with pytest.raises(ValueError, match="one row per node"):
        graphs.generic_aggregate(edges, h, lambda s: s, lambda x: x.sum())
    with pytest.raises(ValueError, match="sharpness"):
        graphs.approx_max_aggregate(edges, h, 0.0)
    with pytest.raises(ValueError, match="overflow"):
        graphs.approx_max_aggregate(edges, h * 100, 100.0)
    with pytest.raises(ValueError, match="method"):
        graphs.approx_max_aggregate(edges, h, 1.0, method="softmax")
    with pytest.raises(ValueError, match="bound"):
        graphs.approx_max_aggregate(edges, h, 2.0, method="power")
    with pytest.raises(ValueError, match=r"\[-bound, bound\]"):
        graphs.approx_max_aggregate(edges, h * 5, 2.0, method="power", bound=1.0)
    with pytest.raises(ValueError, match="degree"):
        graphs.approx_max_error_bound(-1, 1.0)
    with pytest.raises(ValueError, match="sharpness"):
        graphs.approx_max_error_bound(3, 0.0)
    with pytest.raises(ValueError, match="method"):
        graphs.approx_max_error_bound(3, 1.0, method="x")
    with pytest.raises(ValueError, match="bound"):
        graphs.approx_max_error_bound(3, 1.0, method="power")


# ---- distances by message passing -----------------------------------------------------------

@pytest.mark.parametrize("aggregation", ["generic", "max", "mean"])
@pytest.mark.parametrize("seed", range(4))
def test_message_passing_distances_equal_bfs(aggregation, seed):
    graph = nx.connected_watts_strogatz_graph(15, 4, 0.3, seed=seed)
    source = seed % 15
    features = torch.ones(15, 2)
    features[source] = 0
    edges = graphs.as_edge_index(nx.to_numpy_array(graph, nodelist=range(15), dtype=np.int64))
    distances = graphs.message_passing_distances(edges, features, aggregation, rounds=14)
    expected = nx.single_source_shortest_path_length(graph, source)
    assert distances.tolist() == [expected[v] for v in range(15)]
    # Too few rounds cap the distances.
    capped = graphs.message_passing_distances(edges, features, aggregation, rounds=1)
    assert capped.tolist() == [min(expected[v], 1) for v in range(15)]


@pytest.mark.parametrize("aggregation", ["generic", "max", "mean"])
@pytest.mark.parametrize("seed", range(4))
def test_distances_until_stable_stop_at_the_eccentricity(aggregation, seed):
    graph = nx.connected_watts_strogatz_graph(15, 4, 0.3, seed=seed)
    source = (3 * seed) % 15
    features = torch.ones(15, 2)
    features[source] = 0
    edges = graphs.as_edge_index(nx.to_numpy_array(graph, nodelist=range(15), dtype=np.int64))
    distances, rounds = graphs.distances_until_stable(edges, features, aggregation)
    expected = nx.single_source_shortest_path_length(graph, source)
    assert distances.tolist() == [expected[v] for v in range(15)]
    assert rounds == nx.eccentricity(graph, source)
    # One round fewer is not yet stable: the fixed-depth function then still differs.
    short = graphs.message_passing_distances(edges, features, aggregation, rounds=rounds - 1)
    assert not torch.equal(short, distances)


def test_distances_until_stable_single_node_and_bad_arguments():
    distances, rounds = graphs.distances_until_stable(torch.zeros(2, 0, dtype=torch.long),
                                                      torch.zeros(1, 1), "max")
    assert distances.tolist() == [0] and rounds == 0
    edges = torch.tensor([[0, 1], [1, 0]])                  # node 2 is never reached
    features = torch.tensor([[0.0], [1.0], [1.0]])
    with pytest.raises(ValueError, match="still changes"):
        graphs.distances_until_stable(edges, features, "max")
    with pytest.raises(ValueError, match="max_rounds"):
        graphs.distances_until_stable(edges, features[:2], "max", max_rounds=-1)
    with pytest.raises(ValueError, match="aggregation"):
        graphs.distances_until_stable(edges, features[:2], "sum")
    with pytest.raises(ValueError, match="exactly one node"):
        graphs.distances_until_stable(edges, torch.ones(2, 1), "mean")


def test_message_passing_distances_reject_bad_arguments():
    edges = torch.tensor([[0, 1], [1, 0]])
    good = torch.tensor([[0.0], [1.0]])
    with pytest.raises(ValueError, match="aggregation"):
        graphs.message_passing_distances(edges, good, "sum", 2)
    with pytest.raises(ValueError, match="rounds"):
        graphs.message_passing_distances(edges, good, "max", -1)
    with pytest.raises(ValueError, match="exactly one node"):
        graphs.message_passing_distances(edges, torch.ones(2, 1), "max", 2)
    with pytest.raises(ValueError, match="exactly one node"):
        graphs.message_passing_distances(edges, torch.tensor([[0.0], [0.5]]), "max", 2)


# ---- colour refinement ----------------------------------------------------------------------

def _nx_hash(graph, rounds):
    labelled = graph.copy()
    nx.set_node_attributes(labelled, {v: labelled.nodes[v].get("mark", 0) for v in labelled}, "mark")
    return nx.weisfeiler_lehman_graph_hash(labelled, node_attr="mark", iterations=rounds)


def _with_marks(graph):
    nx.set_node_attributes(graph, 0, "mark")
    return graph


def test_refinement_separates_what_networkx_separates():
    pairs = [(nx.gnm_random_graph(7, m, seed=s), nx.gnm_random_graph(7, m, seed=s + 100))
             for m in (6, 8, 10) for s in range(15)]
    pairs += [(nx.cycle_graph(6), nx.disjoint_union(nx.cycle_graph(3), nx.cycle_graph(3))),
              (nx.circular_ladder_graph(3), nx.complete_bipartite_graph(3, 3)),
              (nx.path_graph(5), nx.star_graph(4))]
    outcomes = set()
    for first, second in pairs:
        first, second = _with_marks(first), _with_marks(second)
        for rounds in (1, 2, 3):
            ours = graphs.refinement_equivalent(first, second, node_attr="mark", rounds=rounds)
            assert ours == (_nx_hash(first, rounds) == _nx_hash(second, rounds))
            outcomes.add(ours)
    assert outcomes == {True, False}  # both kinds of pair occur


def test_refinement_cannot_separate_regular_graphs_of_equal_size_and_degree():
    two_triangles = nx.disjoint_union(nx.cycle_graph(3), nx.cycle_graph(3))
    assert graphs.refinement_equivalent(nx.cycle_graph(6), two_triangles)
    assert graphs.refinement_equivalent(nx.circular_ladder_graph(3), nx.complete_bipartite_graph(3, 3))
    assert not graphs.refinement_equivalent(nx.cycle_graph(3), nx.cycle_graph(4))
    # Mean and max forget how many: a triangle and a square look alike to them.
    for mode in ("set", "distribution"):
        assert graphs.refinement_equivalent(nx.cycle_graph(3), nx.cycle_graph(4), mode=mode)
    # Distribution sees proportions that sets miss: a star with its centre marked
    # vs K_{2,3} with both hubs marked (1/4 vs 2/5 of the nodes marked).
    star, double_star = _with_marks(nx.star_graph(3)), _with_marks(nx.complete_bipartite_graph(2, 3))
    star.nodes[0]["mark"] = double_star.nodes[0]["mark"] = double_star.nodes[1]["mark"] = 1
    assert graphs.refinement_equivalent(star, double_star, node_attr="mark", mode="set")
    assert not graphs.refinement_equivalent(star, double_star, node_attr="mark", mode="distribution")


@given(st.integers(0, 10_000))
def test_refinement_colors_are_isomorphism_invariant_and_stable(seed):
    graph = nx.gnp_random_graph(8, 0.35, seed=seed)
    relabel = dict(zip(range(8), np.random.default_rng(seed).permutation(8).tolist()))
    permuted = nx.relabel_nodes(graph, relabel)
    for mode in ("multiset", "set", "distribution"):
        assert graphs.refinement_equivalent(graph, permuted, mode=mode)
        history = graphs.color_refinement(graph, mode=mode)
        sizes = [len(set(c.values())) for c in history]
        assert sizes == sorted(sizes) and sizes[-1] == sizes[-2] if len(sizes) > 1 else True


@pytest.mark.parametrize("seed", range(6))
def test_unfolding_trees_match_refinement_colours(seed):
    # Equal depth-k unfolding trees <=> equal round-k multiset colours (two independent codes).
    graph = nx.gnp_random_graph(9, 0.3, seed=seed)
    nx.set_node_attributes(graph, {v: v % 2 for v in graph}, "mark")
    history = graphs.color_refinement(graph, node_attr="mark", rounds=4)
    outcomes = set()
    for k in range(5):
        trees = {v: graphs.unfolding_tree(graph, v, k, node_attr="mark") for v in graph}
        for u, v in itertools.combinations(graph, 2):
            same = trees[u] == trees[v]
            assert same == (history[k][u] == history[k][v])
            outcomes.add(same)
    assert outcomes == {True, False}


def test_unfolding_tree_shape_and_bad_arguments():
    path = nx.path_graph(3)
    assert graphs.unfolding_tree(path, 0, 0) == ("", ())
    assert graphs.unfolding_tree(path, 0, 2) == ("", (("", (("", ()), ("", ()))),))
    with pytest.raises(TypeError, match="undirected"):
        graphs.unfolding_tree(nx.DiGraph([(0, 1)]), 0, 1)
    with pytest.raises(ValueError, match="not in the graph"):
        graphs.unfolding_tree(path, 7, 1)
    with pytest.raises(ValueError, match="depth"):
        graphs.unfolding_tree(path, 0, -1)
    with pytest.raises(ValueError, match="missing"):
        graphs.unfolding_tree(path, 0, 1, node_attr="mark")


@pytest.mark.parametrize("aggregation", ["sum", "mean", "max"])
def test_shared_layer_readouts_equal_a_dense_computation(aggregation):
    graph = nx.gnp_random_graph(8, 0.4, seed=3)
    graph.remove_nodes_from([v for v in list(graph) if graph.degree(v) == 0])
    graph = nx.convert_node_labels_to_integers(graph)
    a = torch.from_numpy(nx.to_numpy_array(graph, dtype=np.float64))
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(len(graph), 3, generator=generator, dtype=torch.float64)
    w_self, w_nbr = (torch.randn(3, 3, generator=generator, dtype=torch.float64) for _ in range(2))
    out = graphs.shared_layer_readouts(graphs.as_edge_index(a.long()), x, w_self, w_nbr, aggregation, 3)
    h, expected = x, []
    for t in range(4):
        if t:
            if aggregation == "max":
                agg = torch.stack([h[a[v] > 0].amax(dim=0) for v in range(len(graph))])
            else:
                agg = a @ h / (a.sum(1, keepdim=True) if aggregation == "mean" else 1)
            h = torch.tanh(h @ w_self + agg @ w_nbr)
        expected.append({"sum": h.sum(0), "mean": h.mean(0), "max": h.amax(0)}[aggregation])
    assert out.shape == (4, 3)
    assert torch.allclose(out, torch.stack(expected), atol=1e-12)


def test_shared_layer_readouts_reject_bad_arguments():
    edges, x, w = torch.tensor([[0, 1], [1, 0]]), torch.ones(2, 2), torch.eye(2)
    with pytest.raises(ValueError, match="aggregation"):
        graphs.shared_layer_readouts(edges, x, w, w, "min", 1)
    with pytest.raises(ValueError, match="weight_neighbours"):
        graphs.shared_layer_readouts(edges, x, w, torch.eye(3), "sum", 1)
    with pytest.raises(ValueError, match="rounds"):
        graphs.shared_layer_readouts(edges, x, w, w, "sum", -1)
    with pytest.raises(TypeError, match="torch tensors"):
        graphs.shared_layer_readouts(edges, x.numpy(), w, w, "sum", 1)


def test_refinement_rejects_bad_arguments():
    with pytest.raises(TypeError, match="undirected"):
        graphs.color_refinement(nx.DiGraph([(0, 1)]))
    with pytest.raises(ValueError, match="mode"):
        graphs.color_refinement(nx.path_graph(3), mode="sum")
    with pytest.raises(ValueError, match="rounds"):
        graphs.color_refinement(nx.path_graph(3), rounds=-1)
    with pytest.raises(ValueError, match="missing"):
        graphs.color_refinement(nx.path_graph(3), node_attr="mark")
    with pytest.raises(TypeError, match="second"):
        graphs.refinement_equivalent(nx.path_graph(3), np.eye(3))


# ---- the karate club -------------------------------------------------------------------------

def test_karate_club_matches_networkx():
    club = karate_club()
    graph = nx.karate_club_graph()
    assert club.adjacency.shape == (34, 34) and club.adjacency.dtype == np.int64
    assert (club.adjacency == club.adjacency.T).all() and not np.diag(club.adjacency).any()
    assert club.adjacency.sum() == 2 * graph.number_of_edges() == 156
    for u, v in itertools.combinations(range(34), 2):
        assert club.adjacency[u, v] == graph.has_edge(u, v)
    assert [club.clubs[label] for label in club.labels] == [graph.nodes[v]["club"] for v in range(34)]
    assert club.labels[0] == 0 and club.labels[33] == 1 and np.bincount(club.labels).tolist() == [17, 17]
