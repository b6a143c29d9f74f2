"""One molecule, one graph, however it is handed in: SMILES, an unsanitized
RDKit Mol, or a Mol with explicit hydrogens; every CIP-labelled stereo element
reaches the features; invalid input fails with RDKit's reason."""

import networkx as nx
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

Chem = pytest.importorskip("rdkit.Chem")
from rdkit.Chem.EnumerateStereoisomers import EnumerateStereoisomers  # noqa: E402

from dlbook import molecules  # noqa: E402
from dlbook.data import load_solubility  # noqa: E402

SOLUBILITY_SMILES = list(load_solubility()["smiles"])


def _same_graph(a, b):
    return (torch.equal(a.x, b.x) and torch.equal(a.edge_index, b.edge_index)
            and torch.equal(a.edge_attr, b.edge_attr))


def _three_ways(smiles):
    mol = Chem.MolFromSmiles(smiles)
    return smiles, Chem.MolFromSmiles(smiles, sanitize=False), Chem.AddHs(mol)


def test_unsanitized_ethanol_gives_the_smiles_graph():
    raw = Chem.MolFromSmiles("CCO", sanitize=False)
    assert _same_graph(molecules.mol_to_graph(raw), molecules.mol_to_graph("CCO"))
    assert raw.NeedsUpdatePropertyCache()          # the caller's Mol was not sanitized in place


def test_explicit_hydrogens_give_the_same_graph_and_prediction():
    ethanol = Chem.MolFromSmiles("CCO")
    with_h = Chem.AddHs(ethanol)
    graphs = [molecules.mol_to_graph(m) for m in (ethanol, with_h)]
    assert _same_graph(*graphs) and graphs[0].num_atoms == 3
    assert with_h.GetNumAtoms() == 9                # the caller's Mol still has its hydrogens
    torch.manual_seed(0)
    model = molecules.MoleculeGNN()
    predictions = molecules.predict(model, graphs)
    torch.testing.assert_close(predictions[0], predictions[1], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("smiles, reason", [
    ("C1CC", "could not parse"),
    ("N(C)(C)(C)(C)C", "Explicit valence for atom # 0 N"),
    ("c1cccc1", "Can't kekulize"),
    ("[H][H]", "has no heavy atom"),
])
def test_invalid_molecules_fail_with_rdkit_reason(smiles, reason):
    with pytest.raises(ValueError, match=reason):
        molecules.mol_to_graph(smiles)
    raw = Chem.MolFromSmiles(smiles, sanitize=False)
    if raw is not None and reason != "has no heavy atom":
        with pytest.raises(ValueError, match=reason):
            molecules.mol_to_graph(raw)


@given(st.sampled_from(SOLUBILITY_SMILES), st.booleans())
@settings(max_examples=60, deadline=None)
def test_random_molecules_handed_in_three_ways_give_one_graph(smiles, chirality):
    graphs = [molecules.mol_to_graph(m, chirality=chirality) for m in _three_ways(smiles)]
    assert _same_graph(graphs[0], graphs[1]) and _same_graph(graphs[0], graphs[2])
    descriptors = molecules.esol_descriptors(list(_three_ways(smiles)))
    np.testing.assert_allclose(descriptors, np.repeat(descriptors[:1], 3, axis=0), rtol=1e-12)


def test_double_bond_geometry_reaches_the_features():
    cis = molecules.mol_to_graph("C/C=C\\C", chirality=True)
    trans = molecules.mol_to_graph("C/C=C/C", chirality=True)
    assert not _same_graph(cis, trans)
    assert _same_graph(molecules.mol_to_graph("C/C=C\\C"), molecules.mol_to_graph("C/C=C/C"))
    assert cis.edge_attr.shape[1] == molecules.BOND_FEATURES + molecules.STEREO_BOND_FEATURES


def _as_nx(graph):
    return molecules.to_networkx(graph)


@pytest.mark.parametrize("smiles", [
    "CC=CC(O)C(Cl)C=CC",                              # two centres, two stereo double bonds
    "OC(=O)C(O)C(O)C(O)C(=O)O",                       # pseudo-asymmetric C3 (r/s): meso forms
    "CC1CCC(C)CC1",                                   # cis/trans ring, no CIP centre labels
    "C[C@H](N)C(=O)O",
])
def test_different_stereoisomers_never_share_a_graph(smiles):
    isomers = [Chem.MolToSmiles(m) for m in EnumerateStereoisomers(Chem.MolFromSmiles(smiles))]
    isomers = sorted(set(isomers))
    graphs = {s: _as_nx(molecules.mol_to_graph(s, chirality=True)) for s in isomers}
    match = dict(node_match=lambda a, b: a["x"] == b["x"], edge_match=lambda a, b: a["bond"] == b["bond"])
    for i, first in enumerate(isomers):
        for second in isomers[i + 1:]:
            # Only stereoisomers RDKit's CIP labeller can tell apart are required to differ.
            labelled = [set(_cip_labels(s)) for s in (first, second)]
            if labelled[0] != labelled[1]:
                assert not nx.is_isomorphic(graphs[first], graphs[second], **match), (first, second)


def _cip_labels(smiles):
    from rdkit.Chem import rdCIPLabeler

    mol = Chem.MolFromSmiles(smiles)
    rdCIPLabeler.AssignCIPLabels(mol)
    ranks = list(Chem.CanonicalRankAtoms(mol, breakTies=False))
    atoms = [(ranks[a.GetIdx()], a.GetProp("_CIPCode")) for a in mol.GetAtoms() if a.HasProp("_CIPCode")]
    bonds = [(tuple(sorted((ranks[b.GetBeginAtomIdx()], ranks[b.GetEndAtomIdx()]))), b.GetProp("_CIPCode"))
             for b in mol.GetBonds() if b.HasProp("_CIPCode")]
    return sorted(atoms) + sorted(bonds)


def test_salts_keep_every_fragment():
    graph = molecules.mol_to_graph("[Na+].CC(=O)[O-]")
    assert graph.num_atoms == 5
    assert nx.number_connected_components(molecules.to_networkx(graph)) == 2


def test_targets_as_tensors_train_without_warnings(recwarn):
    graphs = [molecules.mol_to_graph(s) for s in ("CCO", "CCC", "CCN", "CCCl")]
    molecules.train_molecule_gnn(molecules.MoleculeGNN(hidden=8, layers=1), graphs[:3],
                                 torch.tensor([0.1, 0.2, 0.3]), graphs[3:], torch.tensor([0.4]),
                                 epochs=1, batch_size=2)
    assert not [w for w in recwarn if issubclass(w.category, DeprecationWarning)]
