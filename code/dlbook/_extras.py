"""Optional dependencies: the error that names the extra to install.

``dlbook``'s core (``pip install ./code``) needs NumPy, SciPy, PyTorch,
matplotlib, networkx, scikit-learn and threadpoolctl. Two topics need more:

* ``molecules``: RDKit and pandas, for :mod:`dlbook.molecules` and
  :func:`dlbook.data.load_solubility` (whose data files ship with ``dlbook``);
* ``vision``: torchvision, for MNIST/CIFAR through torchvision's loaders.

A module or function that needs an extra imports it in a ``try`` block and
raises ``missing_extra(error, extra, feature)`` from the ``ImportError``.
"""

from __future__ import annotations

__all__ = ["missing_extra"]


def missing_extra(error: ImportError, extra: str, feature: str) -> ImportError:
    """The ``ImportError`` to raise when ``feature`` cannot import a module of
    ``extra``.

    The message names the missing module (from ``error.name``) and the pip
    command that installs the extra.
    """
    module = error.name or str(error)
    return ImportError(
        f"{feature} needs the optional dependency {module!r}, which is not "
        f'installed: pip install "dlbook[{extra}]" (or, from a checkout, '
        f'pip install "./code[{extra}]")'
    )
