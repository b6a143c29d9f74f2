"""The GCN layer on sparse adjacency matrices (COO and CSR), never densified.

References: the dense path of the same functions (itself checked against
formulas and gradcheck in test_graphs.py / test_gnn.py), PyTorch Geometric's
``gcn_norm`` and ``GCNConv`` on a large random graph, and autograd.
"""

import numpy as np
import pytest

# PyTorch flags CSR support as beta once per process; the CSR cases here are the test.
pytestmark = pytest.mark.filterwarnings("ignore:Sparse CSR tensor support is in beta")
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from dlbook import graphs
from dlbook.data import random_edge_index

LAYOUTS = ["coo", "csr"]


def _to_layout(dense: torch.Tensor, layout: str) -> torch.Tensor:
    return dense.to_sparse() if layout == "coo" else dense.to_sparse_csr()




def _sparse_from_edges(edges: torch.Tensor, n: int, layout: str) -> torch.Tensor:
    coo = torch.sparse_coo_tensor(edges, torch.ones(edges.shape[1]), (n, n),
                                  check_invariants=True).coalesce()
    return coo if layout == "coo" else coo.to_sparse_csr()


symmetric = arrays(np.int64, st.tuples(st.integers(1, 9)).map(lambda t: (t[0], t[0])),
                   elements=st.integers(0, 1)).map(lambda a: np.triu(a, 1) + np.triu(a, 1).T)


@pytest.mark.parametrize("layout", LAYOUTS)
@given(a=symmetric, self_loops=st.booleans())
@settings(max_examples=40)
def test_sparse_normalization_equals_dense(layout, a, self_loops):
    dense = graphs.normalized_adjacency(a, self_loops=self_loops)
    sparse = graphs.normalized_adjacency(_to_layout(torch.from_numpy(a), layout), self_loops=self_loops)
    expected_layout = torch.sparse_coo if layout == "coo" else torch.sparse_csr
    assert sparse.layout == expected_layout
    assert sparse.dtype == torch.get_default_dtype()
    np.testing.assert_allclose(sparse.to_dense().double().numpy(), dense, atol=1e-6)
    # Only edges and self-loops are stored: nothing was densified.
    assert sparse.to_sparse_coo().coalesce().values().numel() == a.sum() + (a.shape[0] if self_loops else 0)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_sparse_normalization_matches_pytorch_geometric_on_a_large_graph(layout):
    gcn_norm = pytest.importorskip("torch_geometric.nn.conv.gcn_conv").gcn_norm
    n = 20_000
    edges = random_edge_index(n, 8, seed=0)
    ours = graphs.normalized_adjacency(_sparse_from_edges(edges, n, layout).double())
    ref_edges, ref_weight = gcn_norm(edges, num_nodes=n, add_self_loops=True)
    # PyG stores the weight of edge i -> j at (i, j) and aggregates at j, i.e. Âᵀ;
    # for an undirected graph Â is symmetric and the two agree.
    reference = torch.sparse_coo_tensor(ref_edges, ref_weight.double(), (n, n),
                                        check_invariants=True).coalesce()
    ours = ours.to_sparse_coo().coalesce()
    assert torch.equal(ours.indices(), reference.indices())
    torch.testing.assert_close(ours.values(), reference.values(), atol=1e-6, rtol=0)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("d_in, d_out", [(16, 4), (4, 16)])   # both association orders
def test_sparse_gcn_layer_matches_gcnconv_outputs_and_gradients(layout, d_in, d_out):
    gcn_conv = pytest.importorskip("torch_geometric.nn").GCNConv
    n = 20_000
    edges = random_edge_index(n, 8, seed=1)
    a_hat = graphs.normalized_adjacency(_sparse_from_edges(edges, n, layout).double())
    generator = torch.Generator().manual_seed(2)
    x = torch.randn(n, d_in, dtype=torch.float64, generator=generator, requires_grad=True)
    w = torch.randn(d_out, d_in, dtype=torch.float64, generator=generator, requires_grad=True)
    upstream = torch.randn(n, d_out, dtype=torch.float64, generator=generator)
    conv = gcn_conv(d_in, d_out, bias=False).double()
    with torch.no_grad():
        conv.lin.weight.copy_(w)
    x_ref = x.detach().clone().requires_grad_()
    reference = conv(x_ref, edges)
    ours = graphs.gcn_layer(a_hat, x, w, activation="identity")
    torch.testing.assert_close(ours, reference, atol=1e-10, rtol=0)
    (ours * upstream).sum().backward()
    (reference * upstream).sum().backward()
    torch.testing.assert_close(x.grad, x_ref.grad, atol=1e-10, rtol=0)
    torch.testing.assert_close(w.grad, conv.lin.weight.grad, atol=1e-8, rtol=1e-10)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("activation", ["tanh", "relu", "sigmoid", "identity"])
@pytest.mark.parametrize("d_in, d_out", [(5, 3), (3, 5)])
def test_sparse_gcn_gradients_equal_dense_ones(layout, activation, d_in, d_out):
    """dX and dW equal the dense layer's; dÂ equals the dense dÂ on Â's stored entries."""
    n = 12
    edges = random_edge_index(n, 3, seed=3)
    a_sparse = graphs.normalized_adjacency(_sparse_from_edges(edges, n, layout).double())
    a_dense = a_sparse.to_dense()
    generator = torch.Generator().manual_seed(4)
    x = torch.randn(n, d_in, dtype=torch.float64, generator=generator)
    w = torch.randn(d_out, d_in, dtype=torch.float64, generator=generator)
    upstream = torch.randn(n, d_out, dtype=torch.float64, generator=generator)
    grads = {}
    for name, a in (("sparse", a_sparse), ("dense", a_dense)):
        inputs = [t.clone().requires_grad_() for t in (a, x, w)]
        out = graphs.gcn_layer(*inputs, activation=activation)
        assert out.layout == torch.strided
        (out * upstream).sum().backward()
        grads[name] = [t.grad for t in inputs]
    sparse_grads, dense_grads = grads["sparse"], grads["dense"]
    assert sparse_grads[0].layout == a_sparse.layout
    pattern = a_dense != 0
    torch.testing.assert_close(sparse_grads[0].to_dense()[pattern], dense_grads[0][pattern])
    assert not sparse_grads[0].to_dense()[~pattern].any()
    torch.testing.assert_close(sparse_grads[1], dense_grads[1])
    torch.testing.assert_close(sparse_grads[2], dense_grads[2])


def test_sparse_gcn_layer_passes_gradcheck_in_x_and_w():
    n = 10
    edges = random_edge_index(n, 3, seed=5)
    a_hat = graphs.normalized_adjacency(_sparse_from_edges(edges, n, "coo").double())
    generator = torch.Generator().manual_seed(6)
    x = torch.randn(n, 4, dtype=torch.float64, generator=generator, requires_grad=True)
    w = torch.randn(2, 4, dtype=torch.float64, generator=generator, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, w: graphs.gcn_layer(a_hat, x, w), (x, w))


def test_isolated_node_gets_zero_row_in_sparse_normalization_without_self_loops():
    a = torch.tensor([[0, 1, 0], [1, 0, 0], [0, 0, 0]]).to_sparse()
    result = graphs.normalized_adjacency(a, self_loops=False).to_dense()
    torch.testing.assert_close(result, torch.tensor([[0.0, 1, 0], [1, 0, 0], [0, 0, 0]]))


def test_sparse_input_errors_name_the_argument_and_the_kind():
    duplicate = torch.sparse_coo_tensor(torch.tensor([[0, 0, 1], [1, 1, 0]]), torch.ones(3), (2, 2),
                                        check_invariants=True)
    with pytest.raises(ValueError, match="adjacency must be binary.*repeated edges"):
        graphs.normalized_adjacency(duplicate)
    with pytest.raises(ValueError, match="adjacency already has self-loops"):
        graphs.normalized_adjacency(torch.eye(3).to_sparse())
    with pytest.raises(ValueError, match="adjacency must be a square matrix"):
        graphs.normalized_adjacency(torch.zeros(2, 3).to_sparse())
    with pytest.raises(ValueError, match="adjacency must be binary"):
        graphs.normalized_adjacency((0.5 * torch.ones(2, 2)).to_sparse())
    with pytest.raises(TypeError, match="adjacency must be dense, sparse COO or sparse CSR"):
        graphs.normalized_adjacency(torch.zeros(2, 2).to_sparse_csc())
    a_hat = graphs.normalized_adjacency(torch.zeros(3, 3).to_sparse())
    x, w = torch.randn(3, 2), torch.randn(2, 2)
    with pytest.raises(TypeError, match="a_hat must be dense, sparse COO or sparse CSR"):
        graphs.gcn_layer(a_hat.to_dense().to_sparse_csc(), x, w)
    with pytest.raises(TypeError, match="features must be a dense tensor"):
        graphs.gcn_layer(a_hat, x.to_sparse(), w)
    with pytest.raises(ValueError, match="a_hat must be"):
        graphs.gcn_layer(graphs.normalized_adjacency(torch.zeros(4, 4).to_sparse()), x, w)


# ---- graph kinds: directed graphs are refused, dtypes accepted ------------------------

@pytest.mark.parametrize("layout", ["dense-numpy", "dense-torch", "coo", "csr"])
def test_directed_path_is_refused_in_every_layout(layout):
    """0 -> 1 -> 2: Â X would aggregate against the edges (5.5, 75.7, 100), where
    GCNConv gives (1, 5.707, 55); the function refuses instead of disagreeing."""
    a = np.array([[0, 1, 0], [0, 0, 1], [0, 0, 0]])
    value = {"dense-numpy": a, "dense-torch": torch.from_numpy(a),
             "coo": torch.from_numpy(a).to_sparse(), "csr": torch.from_numpy(a).to_sparse_csr()}[layout]
    with pytest.raises(ValueError, match="adjacency must be symmetric"):
        graphs.normalized_adjacency(value)


@given(a=arrays(np.int64, st.tuples(st.integers(2, 8)).map(lambda t: (t[0], t[0])),
                elements=st.integers(0, 1)))
@settings(max_examples=60)
def test_every_directed_graph_is_refused_and_every_undirected_one_matches_gcnconv(a):
    np.fill_diagonal(a, 0)
    if not np.array_equal(a, a.T):
        for value in (a, torch.from_numpy(a).to_sparse()):
            with pytest.raises(ValueError, match="symmetric"):
                graphs.normalized_adjacency(value)
        a = np.maximum(a, a.T)                     # the undirected version is accepted
    gcn_conv = pytest.importorskip("torch_geometric.nn").GCNConv
    n = a.shape[0]
    x = torch.arange(1.0, n + 1, dtype=torch.float64).pow(2).unsqueeze(1)
    conv = gcn_conv(1, 1, bias=False).double()
    with torch.no_grad():
        conv.lin.weight.fill_(1.0)
    expected = conv(x, graphs.as_edge_index(a)).detach()
    for value in (a, torch.from_numpy(a).to_sparse(), torch.from_numpy(a).to_sparse_csr()):
        a_hat = graphs.normalized_adjacency(value)
        a_hat = torch.as_tensor(a_hat.to_dense() if isinstance(a_hat, torch.Tensor)
                                and a_hat.layout != torch.strided else a_hat, dtype=torch.float64)
        ours = graphs.gcn_layer(a_hat, x, torch.ones(1, 1, dtype=torch.float64), "identity")
        torch.testing.assert_close(ours, expected)


@pytest.mark.parametrize("dtype", [torch.bool, torch.int8, torch.int64, torch.float16,
                                   torch.bfloat16, torch.float32, torch.float64])
def test_adjacency_dtypes_give_the_same_normalization(dtype):
    a = np.array([[0, 1, 1, 0], [1, 0, 1, 0], [1, 1, 0, 1], [0, 0, 1, 0]])
    expected = graphs.normalized_adjacency(a)
    dense = graphs.normalized_adjacency(torch.from_numpy(a).to(dtype))
    sparse = graphs.normalized_adjacency(torch.from_numpy(a).to(dtype).to_sparse())
    result_dtype = dtype if dtype.is_floating_point else torch.get_default_dtype()
    assert dense.dtype == sparse.dtype == result_dtype
    tolerance = 1e-2 if dtype in (torch.float16, torch.bfloat16) else 1e-6
    np.testing.assert_allclose(dense.double().numpy(), expected, atol=tolerance)
    np.testing.assert_allclose(sparse.to_dense().double().numpy(), expected, atol=tolerance)
