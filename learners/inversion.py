"""Model inversion of split learning's smashed data, and reconstruction-quality metrics.

In split learning the server receives the activations at the cut (the "smashed data") of every client
batch. Under SplitFed (and vanilla SL) the server that aggregates the client-side models also holds
their weights, so an honest-but-curious server can reconstruct a client's inputs: it optimises an input
``x`` so that the client-side model maps it to the activations it saw (a white-box model-inversion
attack, as in He et al., "Model inversion attacks against collaborative inference", 2019):

    min_x  mean (f_client(x) - a)^2  +  tv_weight x TV(x),   x kept within the data's value range

starting from the data's mean (zero after ns6g's standardisation), with Adam. A deeper cut gives the
attacker a more compressed, less invertible view (pooling and ReLU discard information), which is the
trend :func:`smashed_data_inversion` measures.

Quality: :func:`psnr` (dB, ``inf`` for identical images) and :func:`ssim` (Wang et al. 2004, Gaussian
window, 1.0 for identical images), both over the original images' value range.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

if TYPE_CHECKING:
    from ns6g.learners.engine import FlJob

__all__ = ["InversionResult", "invert_activations", "psnr", "smashed_data_inversion", "ssim"]


def psnr(original: torch.Tensor, reconstruction: torch.Tensor, data_range: float | None = None) -> float:
    """Peak signal-to-noise ratio in dB, ``10 log10(range^2 / MSE)`` over all elements; ``inf`` when the
    two are identical. ``data_range``: default the original's max - min."""
    _same_shape(original, reconstruction)
    rng = float(original.max() - original.min()) if data_range is None else float(data_range)
    if rng <= 0:
        raise ValueError(f"data_range must be > 0, got {rng}")
    mse = float(F.mse_loss(reconstruction.double(), original.double()))
    return math.inf if mse == 0 else 10.0 * math.log10(rng**2 / mse)


def ssim(original: torch.Tensor, reconstruction: torch.Tensor, data_range: float | None = None,
         window: int = 7, sigma: float = 1.5) -> float:
    """Mean structural similarity (Wang et al. 2004) of image batches ``(N, C, H, W)`` (or ``(C, H, W)``):
    Gaussian window of ``window`` pixels (cut to the largest odd size that fits the image) and ``sigma``,
    K1 = 0.01, K2 = 0.03, valid positions only, per channel, averaged. 1.0 for identical images, near 0
    for unrelated ones. ``data_range``: default the original's max - min."""
    _same_shape(original, reconstruction)
    x, y = original.double(), reconstruction.double()
    if x.ndim == 3:
        x, y = x.unsqueeze(0), y.unsqueeze(0)
    if x.ndim != 4:
        raise ValueError(f"ssim takes images (N, C, H, W) or (C, H, W), got shape {tuple(original.shape)}")
    rng = float(original.max() - original.min()) if data_range is None else float(data_range)
    if rng <= 0:
        raise ValueError(f"data_range must be > 0, got {rng}")
    size = min(window, x.shape[-1], x.shape[-2])
    size -= 1 - size % 2  # odd
    coords = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    g = g / g.sum()
    channels = x.shape[1]
    kernel = (g[:, None] * g[None, :]).expand(channels, 1, size, size).to(x.device)

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, kernel, groups=channels)

    c1, c2 = (0.01 * rng) ** 2, (0.03 * rng) ** 2
    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx**2, blur(y * y) - my**2, blur(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    return float(s.mean())


def _same_shape(a: torch.Tensor, b: torch.Tensor) -> None:
    if a.shape != b.shape:
        raise ValueError(f"original and reconstruction differ in shape: {tuple(a.shape)} vs {tuple(b.shape)}")


def _total_variation(x: torch.Tensor) -> torch.Tensor:
    if x.ndim < 3:
        return x.new_zeros(())
    return (x[..., 1:, :] - x[..., :-1, :]).abs().mean() + (x[..., :, 1:] - x[..., :, :-1]).abs().mean()


def invert_activations(
    client_part: nn.Module,
    activations: torch.Tensor,
    input_shape: tuple[int, ...],
    *,
    steps: int = 500,
    lr: float = 0.05,
    tv_weight: float = 0.0,
    bounds: tuple[float, float] | None = None,
) -> torch.Tensor:
    """Inputs ``(N, *input_shape)`` that ``client_part`` maps to ``activations`` ``(N, ...)``: Adam on
    the activations' mean squared error (+ ``tv_weight`` x total variation), from zeros (the data's
    mean after standardisation), clamped to ``bounds`` (the data's value range, which the server knows
    from the published normalisation constants) after every step. ``client_part`` is used in eval mode
    and not changed. Deterministic for the same inputs (no random start)."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if activations.shape[0] < 1:
        raise ValueError("activations: need at least one sample")
    was_training = client_part.training
    client_part.eval()
    params = list(client_part.parameters())
    grads = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad_(False)
    target = activations.detach()
    x = torch.zeros((target.shape[0], *input_shape), device=target.device, requires_grad=True)
    opt = torch.optim.Adam([x], lr=lr)
    try:
        for _ in range(steps):
            opt.zero_grad()
            loss = F.mse_loss(client_part(x), target)
            if tv_weight > 0:
                loss = loss + tv_weight * _total_variation(x)
            loss.backward()
            opt.step()
            if bounds is not None:
                with torch.no_grad():
                    x.clamp_(*bounds)
    finally:
        for p, g in zip(params, grads):
            p.requires_grad_(g)
        client_part.train(was_training)
    return x.detach()


@dataclass(frozen=True)
class InversionResult:
    """One inversion: the cut, mean PSNR (dB) and SSIM of the reconstructions, and the images."""

    cut: int
    psnr_db: float
    ssim: float
    originals: torch.Tensor
    reconstructions: torch.Tensor


def smashed_data_inversion(
    job: FlJob, samples: int = 32, *, steps: int = 500, lr: float = 0.05, tv_weight: float = 0.0
) -> InversionResult:
    """The server's inversion attack on a split job's smashed data: ``samples`` test images pass through
    the job's current client-side model (blocks ``0 .. cut-1``, the weights the server holds after a
    SplitFed / vanilla-SL round), and :func:`invert_activations` reconstructs them from the activations
    alone; PSNR and SSIM over the originals' value range. The job's protocol must be one where the server
    holds the client-side model (splitfed-v1, splitfed-v2, vanilla-sl); the job is not changed."""
    model = getattr(job.protocol, "client_model", None)
    if not job.protocol.split or model is None:
        raise ValueError(f"smashed_data_inversion: protocol {job.config.protocol!r} has no client-side model at the "
                         "server (the white-box attack needs it): use splitfed-v1, splitfed-v2 or vanilla-sl")
    if job.profile:
        raise ValueError("smashed_data_inversion needs trained values: run the job with mode 'train'")
    x_test = job.test_data[0]
    if not 1 <= samples <= len(x_test):
        raise ValueError(f"samples must be in 1..{len(x_test)} (the test set), got {samples}")
    x = x_test[:samples]
    lo, hi = float(job.client_data[0][0].min()), float(job.client_data[0][0].max())
    with torch.no_grad():
        was_training = model.training
        model.eval()
        smashed = model(x)
        model.train(was_training)
    recon = invert_activations(model, smashed, tuple(x.shape[1:]), steps=steps, lr=lr, tv_weight=tv_weight,
                               bounds=(lo, hi))
    rng = float(x.max() - x.min())
    cut = job.config.cut
    return InversionResult(cut, psnr(x, recon, rng), ssim(x, recon, rng), x.cpu(), recon.cpu())
