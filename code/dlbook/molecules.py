"""Molecules as graphs: RDKit featurization, a message-passing network, ESOL,
chirality.

Conventions:

* A molecule is a graph whose nodes are its heavy atoms (hydrogens stay
  implicit, counted in a feature) and whose edges are its bonds, stored once
  in each direction: ``edge_index[:, k] = (source, target)``.
* However a molecule is handed in (SMILES, an RDKit ``Mol`` that was never
  sanitized, or one with explicit hydrogen atoms), :func:`as_mol` first makes
  the same sanitized, hydrogen-suppressed copy, so it gives the same graph
  and the same descriptors; the caller's ``Mol`` is never modified.
* Salts, solvents and counter-ions are kept: a multi-fragment SMILES such as
  ``"[Na+].CC(=O)[O-]"`` is one graph with several connected components.
* Several molecules are batched as one disjoint graph; ``batch[i]`` says which
  molecule atom ``i`` belongs to, and readout pools atoms by molecule.
* RDKit's log messages are switched off on import, so no warning text from
  RDKit reaches a chapter's output.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Any, Literal, Mapping, Sequence

import networkx as nx
import numpy as np
import torch

from dlbook._checks import positive_int
from dlbook._extras import missing_extra
from dlbook.runtime import preserves_global_rng

try:
    from rdkit import Chem, RDLogger
    from rdkit.Chem import Descriptors, rdCIPLabeler
except (
    ImportError
) as _error:  # pragma: no cover - exercised in a subprocess by the tests
    raise missing_extra(_error, "molecules", "dlbook.molecules") from _error

RDLogger.DisableLog("rdApp.*")  # type: ignore[attr-defined]

__all__ = [
    "ATOM_FEATURES",
    "BOND_FEATURES",
    "DELANEY_ESOL",
    "ESOL_DESCRIPTORS",
    "GraphBatch",
    "MolGraph",
    "MoleculeGNN",
    "MoleculeTrainingHistory",
    "STEREO_ATOM_FEATURES",
    "STEREO_BOND_FEATURES",
    "as_mol",
    "batch_graphs",
    "esol_descriptors",
    "esol_predict",
    "fit_esol",
    "mol_to_graph",
    "predict",
    "signed_volumes",
    "to_networkx",
    "train_molecule_gnn",
    "with_atom_features",
]

ELEMENTS = ("C", "N", "O", "F", "P", "S", "Cl", "Br", "I")
_HYBRIDIZATIONS = (
    Chem.HybridizationType.SP,
    Chem.HybridizationType.SP2,
    Chem.HybridizationType.SP3,
    Chem.HybridizationType.SP3D,
    Chem.HybridizationType.SP3D2,
)
_BOND_TYPES = (
    Chem.BondType.SINGLE,
    Chem.BondType.DOUBLE,
    Chem.BondType.TRIPLE,
    Chem.BondType.AROMATIC,
)

ATOM_FEATURES = len(ELEMENTS) + 1 + 6 + 3 + 5 + len(_HYBRIDIZATIONS) + 1 + 2
"""Columns of :func:`mol_to_graph`'s atom features without chirality (32):
element (9 + other), heavy-atom degree (0..4, 5+), formal charge (<0, 0, >0),
attached hydrogens (0..3, 4+), hybridization (sp, sp2, sp3, sp3d, sp3d2, other),
aromatic, in a ring. ``chirality=True`` appends :data:`STEREO_ATOM_FEATURES`."""

BOND_FEATURES = len(_BOND_TYPES) + 2
"""Six bond-feature columns, in order single, double, triple, aromatic,
conjugated, in a ring.
``chirality=True`` appends :data:`STEREO_BOND_FEATURES`."""

_ATOM_CIP = ("R", "S", "r", "s")
_BOND_CIP = ("E", "Z")
STEREO_ATOM_FEATURES = len(_ATOM_CIP)
"""Atom columns added by ``chirality=True`` (4): CIP label R, S, r, s (the
lower-case labels mark pseudo-asymmetric centres, as in meso compounds)."""
STEREO_BOND_FEATURES = len(_BOND_CIP)
"""Bond columns added by ``chirality=True`` (2): CIP label E, Z of a stereo
double bond."""

ESOL_DESCRIPTORS = ("logp", "mw", "rotatable_bonds", "aromatic_proportion")
"""The four ESOL descriptors, in the column order of
:func:`esol_descriptors`."""

DELANEY_ESOL: Mapping[str, float] = {
    "intercept": 0.16,
    "logp": -0.63,
    "mw": -0.0062,
    "rotatable_bonds": 0.066,
    "aromatic_proportion": -0.74,
}
"""Delaney's published ESOL equation (J. Chem. Inf. Comput. Sci. 44, 1000,
2004): log S = 0.16 - 0.63 clogP - 0.0062 MW + 0.066 RB - 0.74 AP."""


def as_mol(molecule: str | Chem.Mol) -> Chem.Mol:
    """The molecule as a sanitized RDKit ``Mol`` with implicit hydrogens (a new
    object).

    A SMILES string is parsed; a ``Mol`` is copied, so the caller's object is
    never changed. The copy is sanitized (an unsanitized ``Mol`` is fine), its
    explicit hydrogen atoms are folded into their heavy atoms' hydrogen
    counts (``Chem.RemoveAllHs``), and stereochemistry is perceived again.
    So SMILES, an unsanitized ``Mol`` and ``Chem.AddHs(mol)`` of one molecule
    give the same heavy-atom molecule.

    Raises:
        TypeError: ``molecule`` is neither a string nor an RDKit ``Mol``.
        ValueError: the SMILES does not parse, RDKit cannot sanitize the
            molecule (the message carries RDKit's reason, e.g. a valence that
            is too high), or it has no heavy atom.
    """
    if isinstance(molecule, str):
        mol = Chem.MolFromSmiles(molecule, sanitize=False)
        if mol is None:
            raise ValueError(
                f"molecule {molecule!r} is not a valid SMILES string (RDKit "
                "could not parse it)"
            )
        name = repr(molecule)
    elif isinstance(molecule, Chem.Mol):
        mol = Chem.Mol(molecule)
        name = "(RDKit Mol)"
    else:
        raise TypeError(
            "molecule must be a SMILES string or an RDKit Mol, got "
            f"{type(molecule).__name__}"
        )
    try:
        Chem.SanitizeMol(mol)
        if any(atom.GetAtomicNum() == 1 for atom in mol.GetAtoms()):
            mol = Chem.RemoveAllHs(mol)
        Chem.AssignStereochemistry(mol, cleanIt=True, force=True)
    except (
        Exception
    ) as error:  # RDKit's MolSanitizeException and its subclasses
        raise ValueError(
            f"molecule {name} could not be sanitized by RDKit: {error}"
        ) from None
    if mol.GetNumAtoms() == 0:
        raise ValueError(f"molecule {name} has no heavy atom")
    return mol


def _one_hot(index: int, size: int) -> list[float]:
    row = [0.0] * size
    row[index] = 1.0
    return row


def _atom_row(atom: Chem.Atom) -> list[float]:
    symbol = atom.GetSymbol()
    element = ELEMENTS.index(symbol) if symbol in ELEMENTS else len(ELEMENTS)
    charge = atom.GetFormalCharge()
    hybrid = atom.GetHybridization()
    return (
        _one_hot(element, len(ELEMENTS) + 1)
        + _one_hot(min(atom.GetDegree(), 5), 6)
        + _one_hot(0 if charge < 0 else (1 if charge == 0 else 2), 3)
        + _one_hot(min(atom.GetTotalNumHs(), 4), 5)
        + _one_hot(
            _HYBRIDIZATIONS.index(hybrid)
            if hybrid in _HYBRIDIZATIONS
            else len(_HYBRIDIZATIONS),
            len(_HYBRIDIZATIONS) + 1,
        )
        + [float(atom.GetIsAromatic()), float(atom.IsInRing())]
    )


@dataclass(frozen=True)
class MolGraph:
    """One molecule as a graph: atom features ``x [n, F]``,
    ``edge_index [2, 2m]``, bond features ``edge_attr [2m, BOND_FEATURES]``
    (each bond in both directions)."""

    x: torch.Tensor
    edge_index: torch.Tensor
    edge_attr: torch.Tensor

    @property
    def num_atoms(self) -> int:
        """Number of nodes (heavy atoms)."""
        return int(self.x.shape[0])


def mol_to_graph(
    molecule: str | Chem.Mol, *, chirality: bool = False
) -> MolGraph:
    """Featurize a molecule (SMILES or RDKit ``Mol``) as a :class:`MolGraph`.

    The molecule is first normalized by :func:`as_mol` (SMILES, unsanitized
    and explicit-hydrogen inputs give the same graph). Atom features are
    listed at :data:`ATOM_FEATURES`; none of them depends on the order in
    which the atoms are numbered. With ``chirality=True`` every stereo element
    that RDKit's new CIP labeller (``rdCIPLabeler.AssignCIPLabels``, the
    algorithm of Hanson et al., 2018) labels reaches the features: atom
    labels R, S, r, s (:data:`STEREO_ATOM_FEATURES`) and double-bond labels
    E, Z (:data:`STEREO_BOND_FEATURES`), so cis- and trans-2-butene, or two
    enantiomers, get different graphs. CIP labels are computed from the whole
    graph, so they too are independent of the numbering (RDKit's raw
    ``ChiralTag`` is not; it refers to the order of an atom's bonds).
    Stereo elements without a label (unspecified centres, atropisomers) add
    nothing.

    Raises: TypeError, ValueError: as :func:`as_mol`.
    """
    mol = as_mol(molecule)
    if chirality:
        rdCIPLabeler.AssignCIPLabels(mol)
    rows = [
        _atom_row(atom) + (_cip_columns(atom, _ATOM_CIP) if chirality else [])
        for atom in mol.GetAtoms()
    ]
    sources, targets, bond_rows = [], [], []
    for bond in mol.GetBonds():
        a, b = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
        kind = bond.GetBondType()
        row = [float(kind == t) for t in _BOND_TYPES] + [
            float(bond.GetIsConjugated()),
            float(bond.IsInRing()),
        ]
        if chirality:
            row += _cip_columns(bond, _BOND_CIP)
        sources += [a, b]
        targets += [b, a]
        bond_rows += [row, row]
    width = BOND_FEATURES + (STEREO_BOND_FEATURES if chirality else 0)
    return MolGraph(
        x=torch.tensor(rows, dtype=torch.float32),
        edge_index=torch.tensor([sources, targets], dtype=torch.long).reshape(
            2, -1
        ),
        edge_attr=torch.tensor(bond_rows, dtype=torch.float32).reshape(
            -1, width
        ),
    )


def _cip_columns(
    item: Chem.Atom | Chem.Bond, labels: tuple[str, ...]
) -> list[float]:
    """One-hot of the CIP label that ``rdCIPLabeler`` stored on an atom or bond
    (zeros if none)."""
    code = item.GetProp("_CIPCode") if item.HasProp("_CIPCode") else ""
    return [float(code == label) for label in labels]


def with_atom_features(
    graph: MolGraph, extra: torch.Tensor | np.ndarray
) -> MolGraph:
    """The same graph with extra atom-feature columns ``extra [n]`` or
    ``[n, k]`` appended.

    Raises:
        ValueError: ``extra`` does not have one row per atom.
    """
    if isinstance(extra, np.ndarray):
        extra = torch.from_numpy(
            np.array(extra)
        )  # a copy: read-only arrays are fine
    extra_t = torch.as_tensor(extra, dtype=graph.x.dtype)
    if extra_t.ndim == 1:
        extra_t = extra_t[:, None]
    if extra_t.ndim != 2 or extra_t.shape[0] != graph.num_atoms:
        raise ValueError(
            f"extra must have one row per atom ({graph.num_atoms}), got shape "
            f"{tuple(extra_t.shape)}"
        )
    return MolGraph(
        torch.cat([graph.x, extra_t], dim=1), graph.edge_index, graph.edge_attr
    )


def to_networkx(graph: MolGraph) -> nx.Graph:
    """The graph as an undirected networkx graph with node attribute ``x`` and
    edge attribute ``bond`` (feature tuples), for isomorphism tests and WL
    hashes."""
    g = nx.Graph()
    for i, row in enumerate(graph.x.tolist()):
        g.add_node(i, x=tuple(row))
    for (a, b), row in zip(
        graph.edge_index.T.tolist(), graph.edge_attr.tolist()
    ):
        g.add_edge(a, b, bond=tuple(row))
    return g


@dataclass(frozen=True)
class GraphBatch:
    """Several molecules as one disjoint graph; ``batch[i]`` is atom ``i``'s
    molecule."""

    x: torch.Tensor
    edge_index: torch.Tensor
    edge_attr: torch.Tensor
    batch: torch.Tensor
    num_graphs: int

    def to(self, device: torch.device | str) -> "GraphBatch":
        """The batch on ``device``."""
        return GraphBatch(
            self.x.to(device),
            self.edge_index.to(device),
            self.edge_attr.to(device),
            self.batch.to(device),
            self.num_graphs,
        )


def batch_graphs(graphs: Sequence[MolGraph]) -> GraphBatch:
    """Join molecules into one disjoint graph, shifting each one's atom indices.

    Raises:
        ValueError: ``graphs`` is empty or the feature widths differ.
        TypeError: an element is not a :class:`MolGraph`.
    """
    if len(graphs) == 0:
        raise ValueError("graphs must hold at least one molecule")
    for g in graphs:
        if not isinstance(g, MolGraph):
            raise TypeError(
                f"graphs must hold MolGraph objects, got {type(g).__name__}"
            )
    if len({g.x.shape[1] for g in graphs}) != 1:
        raise ValueError(
            "all graphs must have the same number of atom features"
        )
    sizes = torch.tensor([g.num_atoms for g in graphs])
    offsets = torch.cumsum(sizes, 0) - sizes
    return GraphBatch(
        x=torch.cat([g.x for g in graphs]),
        edge_index=torch.cat(
            [g.edge_index + int(o) for g, o in zip(graphs, offsets)], dim=1
        ),
        edge_attr=torch.cat([g.edge_attr for g in graphs]),
        batch=torch.repeat_interleave(torch.arange(len(graphs)), sizes),
        num_graphs=len(graphs),
    )


class MoleculeGNN(torch.nn.Module):
    """A small message-passing network for graph-level regression on molecules.

    Each layer sends the message ``relu(h_u + W_e e_uv)`` along every bond
    ``u -> v``, sums the messages at ``v`` (a GINE-style layer) and updates
    ``h_v <- LayerNorm(h_v + MLP(h_v + sum))``. The readout sums (or averages)
    the atoms of each molecule and an MLP head gives one number per molecule,
    in the target's units (the head's output is de-standardized with the
    ``target_mean`` / ``target_std`` buffers that the trainer sets).
    Everything is done per atom or per bond and pooled by sums, so the output
    does not depend on how atoms are numbered.
    """

    def __init__(
        self,
        atom_features: int = ATOM_FEATURES,
        bond_features: int = BOND_FEATURES,
        hidden: int = 64,
        layers: int = 3,
        readout: Literal["sum", "mean"] = "sum",
    ) -> None:
        super().__init__()
        for name, value in (
            ("atom_features", atom_features),
            ("bond_features", bond_features),
            ("hidden", hidden),
            ("layers", layers),
        ):
            positive_int(value, name)
        if readout not in ("sum", "mean"):
            raise ValueError(
                f"readout must be 'sum' or 'mean', got {readout!r}"
            )
        self.readout = readout
        self.embed = torch.nn.Linear(atom_features, hidden)
        self.bond_maps = torch.nn.ModuleList(
            torch.nn.Linear(bond_features, hidden) for _ in range(layers)
        )
        self.updates = torch.nn.ModuleList(
            torch.nn.Sequential(
                torch.nn.Linear(hidden, hidden),
                torch.nn.ReLU(),
                torch.nn.Linear(hidden, hidden),
            )
            for _ in range(layers)
        )
        self.norms = torch.nn.ModuleList(
            torch.nn.LayerNorm(hidden) for _ in range(layers)
        )
        self.head = torch.nn.Sequential(
            torch.nn.Linear(hidden, hidden),
            torch.nn.ReLU(),
            torch.nn.Linear(hidden, 1),
        )
        # Buffers, not parameters: saved with the model, never trained.
        self.target_mean: torch.Tensor
        self.target_std: torch.Tensor
        self.register_buffer("target_mean", torch.tensor(0.0))
        self.register_buffer("target_std", torch.tensor(1.0))

    def embed_graphs(self, batch: GraphBatch) -> torch.Tensor:
        """Pooled molecule embeddings ``[num_graphs, hidden]`` (before the
        head)."""
        if batch.x.shape[1] != self.embed.in_features:
            raise ValueError(
                f"batch has {batch.x.shape[1]} atom features, the model "
                f"expects {self.embed.in_features}"
            )
        h = self.embed(batch.x)
        source, target = batch.edge_index
        for bond_map, update, norm in zip(
            self.bond_maps, self.updates, self.norms
        ):
            messages = torch.relu(h[source] + bond_map(batch.edge_attr))
            summed = torch.zeros_like(h).index_add_(0, target, messages)
            h = norm(h + update(h + summed))
        pooled = h.new_zeros(batch.num_graphs, h.shape[1]).index_add_(
            0, batch.batch, h
        )
        if self.readout == "mean":
            counts = torch.bincount(
                batch.batch, minlength=batch.num_graphs
            ).clamp(min=1)
            pooled = pooled / counts[:, None].to(h.dtype)
        return pooled

    def forward(self, batch: GraphBatch) -> torch.Tensor:
        """One prediction per molecule, ``[num_graphs]``, in the target's
        units."""
        return (
            self.head(self.embed_graphs(batch)).squeeze(-1) * self.target_std
            + self.target_mean
        )


@torch.no_grad()
def predict(
    model: MoleculeGNN, graphs: Sequence[MolGraph], *, batch_size: int = 512
) -> torch.Tensor:
    """The model's predictions for ``graphs`` (CPU tensor, one per molecule), in
    eval mode."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    out = [
        model(batch_graphs(graphs[i : i + batch_size]).to(device)).cpu()
        for i in range(0, len(graphs), batch_size)
    ]
    model.train(was_training)
    return torch.cat(out)


@dataclass
class MoleculeTrainingHistory:
    """Per-epoch mean squared errors (target units squared) and the epoch
    kept."""

    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    best_epoch: int = 0
    seconds: float = 0.0


def _as_targets(values: torch.Tensor | np.ndarray) -> torch.Tensor:
    """A float32 CPU copy (1-D) of targets given as a tensor, an array or a
    sequence."""
    if isinstance(values, torch.Tensor):
        return values.detach().to("cpu", torch.float32).reshape(-1).clone()
    # np.array copies, so read-only inputs (e.g. pandas' to_numpy()) are fine
    # for torch
    return torch.from_numpy(np.array(values, dtype=np.float32)).reshape(-1)


@preserves_global_rng
def train_molecule_gnn(
    model: MoleculeGNN,
    train_graphs: Sequence[MolGraph],
    train_targets: torch.Tensor | np.ndarray,
    val_graphs: Sequence[MolGraph],
    val_targets: torch.Tensor | np.ndarray,
    *,
    epochs: int,
    batch_size: int = 32,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    seed: int = 0,
    device: torch.device | str | None = None,
) -> MoleculeTrainingHistory:
    """Train with Adam on the mean squared error, in shuffled minibatches.

    The learning rate starts at ``lr`` and decays to 0 along a cosine over the
    ``epochs`` (one step per epoch).

    Targets are standardized with the training mean and standard deviation
    (stored in the model, so predictions come out in the original units).
    Every epoch records the training MSE (the mean over the epoch's batches,
    the usual running training loss) and the validation MSE (the model after
    the epoch, on the whole validation set), both in target units squared; at
    the end the weights of the epoch with the lowest validation MSE are
    restored (early stopping by model selection, not by halting).

    Raises:
        ValueError: sizes that do not match, an empty set, or ``epochs``,
            ``batch_size`` or ``lr`` not positive.
    """
    y_train, y_val = _as_targets(train_targets), _as_targets(val_targets)
    if len(train_graphs) == 0 or len(val_graphs) == 0:
        raise ValueError("train_graphs and val_graphs must both be non-empty")
    if len(train_graphs) != len(y_train):
        raise ValueError(
            f"train_targets has {len(y_train)} values for {len(train_graphs)} "
            "graphs"
        )
    if len(val_graphs) != len(y_val):
        raise ValueError(
            f"val_targets has {len(y_val)} values for {len(val_graphs)} graphs"
        )
    if epochs < 1 or batch_size < 1 or not lr > 0:
        raise ValueError(
            f"epochs, batch_size and lr must be positive, got {epochs}, "
            f"{batch_size}, {lr}"
        )
    device = (
        torch.device(device)
        if device is not None
        else next(model.parameters()).device
    )
    model.to(device)
    model.target_mean.fill_(float(y_train.mean()))
    model.target_std.fill_(float(y_train.std()) if len(y_train) > 1 else 1.0)
    optimizer = torch.optim.Adam(
        model.parameters(), lr=lr, weight_decay=weight_decay
    )
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(
        optimizer, T_max=epochs
    )
    generator = torch.Generator().manual_seed(seed)
    history = MoleculeTrainingHistory()
    best_state, best_val = copy.deepcopy(model.state_dict()), float("inf")
    start = time.perf_counter()
    for epoch in range(epochs):
        model.train()
        squared_error = 0.0
        for idx in torch.randperm(len(train_graphs), generator=generator).split(
            batch_size
        ):
            batch = batch_graphs([train_graphs[i] for i in idx.tolist()]).to(
                device
            )
            target = (
                y_train[idx].to(device) - model.target_mean
            ) / model.target_std
            output = (model(batch) - model.target_mean) / model.target_std
            loss = torch.nn.functional.mse_loss(output, target)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            squared_error += (
                float(loss.detach()) * len(idx) * float(model.target_std) ** 2
            )
        schedule.step()
        train_mse = squared_error / len(train_graphs)
        val_mse = float(((predict(model, val_graphs) - y_val) ** 2).mean())
        history.train_loss.append(train_mse)
        history.val_loss.append(val_mse)
        if val_mse < best_val:
            best_val, history.best_epoch = val_mse, epoch
            best_state = copy.deepcopy(model.state_dict())
    model.load_state_dict(best_state)
    model.eval()
    history.seconds = time.perf_counter() - start
    return history


def esol_descriptors(molecules: Sequence[str | Chem.Mol]) -> np.ndarray:
    """The ESOL descriptors ``[n, 4]`` of each molecule, columns
    :data:`ESOL_DESCRIPTORS`: Crippen logP, molecular weight (g/mol), rotatable
    bonds, and the aromatic proportion (aromatic heavy atoms / heavy atoms), all
    from RDKit.

    Raises: TypeError, ValueError: as :func:`as_mol` (for any element).
    """
    if isinstance(molecules, (str, Chem.Mol)):
        raise TypeError(
            "molecules must be a sequence of molecules, not a single one"
        )
    rows = []
    for molecule in molecules:
        mol = as_mol(molecule)
        heavy = mol.GetNumHeavyAtoms()
        aromatic = sum(
            1
            for a in mol.GetAtoms()
            if a.GetIsAromatic() and a.GetAtomicNum() > 1
        )
        descriptors: Any = Descriptors  # RDKit's stubs omit these functions
        rows.append(
            [
                descriptors.MolLogP(mol),
                descriptors.MolWt(mol),
                float(descriptors.NumRotatableBonds(mol)),
                aromatic / max(heavy, 1),
            ]
        )
    return np.asarray(rows, dtype=np.float64).reshape(-1, len(ESOL_DESCRIPTORS))


def _check_descriptors(descriptors: np.ndarray) -> np.ndarray:
    d = np.asarray(descriptors, dtype=np.float64)
    if d.ndim != 2 or d.shape[1] != len(ESOL_DESCRIPTORS):
        raise ValueError(
            f"descriptors must have shape [n, {len(ESOL_DESCRIPTORS)}], got "
            f"{tuple(d.shape)}"
        )
    return d


def esol_predict(
    descriptors: np.ndarray, coefficients: Mapping[str, float] = DELANEY_ESOL
) -> np.ndarray:
    """log S from the ESOL linear equation: intercept + sum of coefficient x
    descriptor.

    Raises:
        ValueError: ``descriptors`` is not ``[n, 4]`` or ``coefficients`` lacks
            a key.
    """
    d = _check_descriptors(descriptors)
    missing = {"intercept", *ESOL_DESCRIPTORS} - set(coefficients)
    if missing:
        raise ValueError(f"coefficients lack {sorted(missing)}")
    weights = np.array([coefficients[name] for name in ESOL_DESCRIPTORS])
    return coefficients["intercept"] + d @ weights


def fit_esol(descriptors: np.ndarray, log_s: np.ndarray) -> dict[str, float]:
    """Least-squares refit of the ESOL equation's five coefficients to data.

    Raises:
        ValueError: shapes that do not match, or fewer molecules than
            coefficients.
    """
    d = _check_descriptors(descriptors)
    y = np.asarray(log_s, dtype=np.float64).reshape(-1)
    if y.shape[0] != d.shape[0]:
        raise ValueError(
            f"log_s has {y.shape[0]} values for {d.shape[0]} molecules"
        )
    if d.shape[0] < d.shape[1] + 1:
        raise ValueError(
            f"need at least {d.shape[1] + 1} molecules to fit, got {d.shape[0]}"
        )
    design = np.column_stack([np.ones(len(y)), d])
    solution, *_ = np.linalg.lstsq(design, y, rcond=None)
    return dict(zip(("intercept", *ESOL_DESCRIPTORS), map(float, solution)))


def signed_volumes(molecule: Chem.Mol, *, conf_id: int = -1) -> np.ndarray:
    """A chirality-sensitive 3-D feature per atom: a triple product (cubic
    ångström).

    The triple product below is six times the signed volume of the
    tetrahedron spanned by the atom and three of its neighbours.

    For an atom ``c`` with at least three neighbours whose graph-canonical
    ranks (RDKit, computed without stereo) are all different, take the three
    highest-ranked neighbours ``a, b, d`` and return
    ``det[p_a - p_c, p_b - p_c, p_d - p_c]``. The ranks depend only on the
    graph, so the value does not depend on how atoms are numbered; a determinant
    is unchanged by rotations and translations and changes sign under a
    reflection, so mirror-image conformers get opposite signs. Other atoms get
    0.

    Raises:
        TypeError: ``molecule`` is not an RDKit ``Mol``.
        ValueError: the molecule has no conformer (no coordinates).
    """
    if not isinstance(molecule, Chem.Mol):
        raise TypeError(
            f"molecule must be an RDKit Mol, got {type(molecule).__name__}"
        )
    if molecule.GetNumConformers() == 0:
        raise ValueError(
            "molecule has no conformer; embed 3-D coordinates first"
        )
    positions = molecule.GetConformer(conf_id).GetPositions()
    ranks = list(
        Chem.CanonicalRankAtoms(
            molecule, breakTies=False, includeChirality=False
        )
    )
    volumes = np.zeros(molecule.GetNumAtoms())
    for atom in molecule.GetAtoms():
        neighbours = [n.GetIdx() for n in atom.GetNeighbors()]
        if len(neighbours) < 3 or len({ranks[n] for n in neighbours}) < len(
            neighbours
        ):
            continue
        a, b, d = sorted(neighbours, key=lambda n: ranks[n], reverse=True)[:3]
        centre = positions[atom.GetIdx()]
        volumes[atom.GetIdx()] = np.linalg.det(
            np.stack(
                [
                    positions[a] - centre,
                    positions[b] - centre,
                    positions[d] - centre,
                ]
            )
        )
    return volumes
