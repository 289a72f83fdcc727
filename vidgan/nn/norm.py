"""Normalisation: spectral norm over a whole module, batch/instance norm by name, and the
BigGAN / DVD-GAN class-conditional batch norm."""

from __future__ import annotations

from torch import Tensor, nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm

SPECTRAL_KINDS: tuple[type[nn.Module], ...] = (
    nn.Conv1d,
    nn.Conv2d,
    nn.Conv3d,
    nn.ConvTranspose1d,
    nn.ConvTranspose2d,
    nn.ConvTranspose3d,
    nn.Linear,
    nn.Embedding,
)
NORMS = ("batch", "instance", "none")

_BATCH_NORM = {2: nn.BatchNorm2d, 3: nn.BatchNorm3d}
_INSTANCE_NORM = {2: nn.InstanceNorm2d, 3: nn.InstanceNorm3d}


def check_dims(dims: int) -> int:
    """``dims`` itself if it is 2 (images, 2D convs) or 3 (video, 3D convs); else ValueError."""
    if dims not in (2, 3):
        raise ValueError(f"dims must be 2 (images) or 3 (video), got {dims!r}")
    return dims


def spectral_norm_all(module: nn.Module, kinds: tuple[type[nn.Module], ...] = SPECTRAL_KINDS) -> nn.Module:
    """Apply ``torch.nn.utils.parametrizations.spectral_norm`` to the weight of ``module`` and of
    every submodule that is an instance of ``kinds``; already parametrised weights are skipped,
    so calling it twice changes nothing. Returns ``module``."""
    targets = [m for m in module.modules() if isinstance(m, kinds)]
    for target in targets:
        if not parametrize.is_parametrized(target, "weight"):
            spectral_norm(target)
    return module


def norm_layer(kind: str, channels: int, dims: int = 2) -> nn.Module:
    """pix2pix-style normalisation by name: ``"batch"`` (affine), ``"instance"`` (not affine,
    no running statistics) or ``"none"`` (identity), for (B, C, H, W) if ``dims=2`` or
    (B, C, T, H, W) if ``dims=3``."""
    check_dims(dims)
    if kind == "batch":
        return _BATCH_NORM[dims](channels)
    if kind == "instance":
        return _INSTANCE_NORM[dims](channels)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {kind!r}; choose one of {NORMS}")


class ConditionalBatchNorm(nn.Module):
    """Class-conditional batch norm (BigGAN, DVD-GAN): affine-free BatchNorm, then a per-sample,
    per-channel ``gain * x + bias`` where ``gain = 1 + g(cond)`` and ``bias = b(cond)``.

    Give exactly one of ``num_classes`` (``cond`` holds class ids, (B,) int64; g and b are
    embeddings) or ``cond_dim`` (``cond`` is a vector, (B, cond_dim); g and b are linear maps).
    g and b start at N(0, 0.02) (BigGAN's init), so the gain starts at 1 up to small offsets and
    spectral norm (:func:`spectral_norm_all`) can be applied to them. Input (B, C, H, W) if
    ``dims=2``, (B, C, T, H, W) if ``dims=3``. Under DDP, ``nn.SyncBatchNorm.convert_sync_batchnorm``
    converts its BatchNorm like any other.
    """

    def __init__(
        self, num_features: int, num_classes: int | None = None, cond_dim: int | None = None, dims: int = 2
    ):
        super().__init__()
        if (num_classes is None) == (cond_dim is None):
            raise ValueError("ConditionalBatchNorm needs exactly one of num_classes and cond_dim")
        self.norm = _BATCH_NORM[check_dims(dims)](num_features, affine=False)
        if num_classes is not None:
            self.gain: nn.Module = nn.Embedding(num_classes, num_features)
            self.bias: nn.Module = nn.Embedding(num_classes, num_features)
        else:
            self.gain = nn.Linear(cond_dim, num_features)
            self.bias = nn.Linear(cond_dim, num_features)
        for layer in (self.gain, self.bias):
            nn.init.normal_(layer.weight, std=0.02)
            if isinstance(layer, nn.Linear):
                nn.init.zeros_(layer.bias)

    def forward(self, x: Tensor, cond: Tensor | None) -> Tensor:
        """``x`` (B, C, ...) and ``cond`` (B,) class ids or (B, cond_dim) → (B, C, ...)."""
        if cond is None:
            raise ValueError("ConditionalBatchNorm needs cond (class ids or a conditioning vector)")
        shape = (x.shape[0], -1) + (1,) * (x.dim() - 2)
        gain = 1 + self.gain(cond).view(shape)
        bias = self.bias(cond).view(shape)
        return self.norm(x) * gain + bias
