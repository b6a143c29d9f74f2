"""Synthetic data with a known low-dimensional structure, made from a seed.

:func:`autoencoder_data` draws the 100-dimensional data of the autoencoder
chapter: a few high-variance coordinates that decide the label, hidden among
many unit-variance ones by a random rotation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.stats import ortho_group

__all__ = ["AutoencoderData", "autoencoder_data"]


@dataclass(frozen=True)
class AutoencoderData:
    """Train / validation / test splits (float32 ``[N, dim]``, int64 labels in
    {0, 1}).

    ``rotation`` is the orthogonal matrix ``Q`` with ``x = h @ Q``, where ``h``
    holds the unrotated coordinates (the first ``n_informative`` scaled), so
    ``h = x @ Q.T`` recovers them.
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    rotation: torch.Tensor
    n_informative: int
    scale: float

    @property
    def dim(self) -> int:
        """The ambient dimension ``d``."""
        return int(self.x_train.shape[1])


def autoencoder_data(
    n_samples: int = 20_000,
    *,
    dim: int = 100,
    n_informative: int = 20,
    scale: float = 10.0,
    fractions: tuple[float, float, float] = (0.7, 0.2, 0.1),
    seed: int = 0,
) -> AutoencoderData:
    """Gaussian data whose label lives in a hidden high-variance subspace.

    Draws ``h ~ N(0, I_dim)``, multiplies its first ``n_informative``
    coordinates by ``scale``, labels each sample ``1`` if the sum of those
    (unrotated) coordinates is positive and ``0`` otherwise, and returns
    ``x = h @ Q`` for a Haar-random orthogonal ``Q``. The samples are split
    in order into train / validation / test by ``fractions``.

    Raises:
        TypeError: ``n_samples``, ``dim`` or ``n_informative`` is not an
            integer.
        ValueError: a size is out of range, ``scale <= 0``, or ``fractions``
            are not three positive numbers summing to 1 that leave every split
            non-empty.
    """
    for name, value in (
        ("n_samples", n_samples),
        ("dim", dim),
        ("n_informative", n_informative),
    ):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(
                f"{name} must be an integer, got {type(value).__name__}"
            )
    if dim < 2:
        raise ValueError(f"dim must be at least 2, got {dim}")
    if not 1 <= n_informative <= dim:
        raise ValueError(
            f"n_informative must lie in [1, dim={dim}], got {n_informative}"
        )
    if not scale > 0:
        raise ValueError(f"scale must be positive, got {scale}")
    if (
        len(fractions) != 3
        or min(fractions) <= 0
        or not np.isclose(sum(fractions), 1.0)
    ):
        raise ValueError(
            "fractions must be three positive numbers summing to 1, got "
            f"{fractions}"
        )
    n_train = int(round(fractions[0] * n_samples))
    n_val = int(round(fractions[1] * n_samples))
    if n_train < 1 or n_val < 1 or n_samples - n_train - n_val < 1:
        raise ValueError(
            f"n_samples={n_samples} leaves an empty split with fractions "
            f"{fractions}"
        )

    rng = np.random.default_rng(seed)
    h = rng.standard_normal((n_samples, dim))
    h[:, :n_informative] *= scale
    labels = (h[:, :n_informative].sum(axis=1) > 0).astype(np.int64)
    rotation = ortho_group.rvs(dim, random_state=rng)
    x = torch.from_numpy((h @ rotation).astype(np.float32))
    y = torch.from_numpy(labels)
    cut = (n_train, n_train + n_val)
    return AutoencoderData(
        x_train=x[: cut[0]],
        y_train=y[: cut[0]],
        x_val=x[cut[0] : cut[1]],
        y_val=y[cut[0] : cut[1]],
        x_test=x[cut[1] :],
        y_test=y[cut[1] :],
        rotation=torch.from_numpy(rotation.astype(np.float32)),
        n_informative=int(n_informative),
        scale=float(scale),
    )
