"""The CAV-MAE inpainting figure, as the original ``src/inpaint.py`` draws it
(``avprep reconstruct``).

For each chosen clip, a pretraining checkpoint masks the frame and the spectrogram, encodes the
visible patches and decodes every patch (``forward_inpaint``). One PNG per clip shows, for the
image (top) and the spectrogram (bottom): the original, the masked input (removed patches at the
normalized value 0), and the reconstruction (the decoder's output in the removed patches pasted
into the visible ones). The title carries the pixel losses over the removed patches.

Meant for ``cav-mae-base-nonorm``, the released model trained without per-patch target
normalization: a model trained with ``--norm_pix_loss True`` (the other released pretrained
models) predicts each patch standardized by its own mean and variance, so its pictures show
structure but not the colours and levels of the input.

As in the original each clip is seeded (``seed``, 2 there) before its masks are drawn, so a
clip's picture does not depend on the other clips. The original passes its ``mask_mode`` setting
to the figure function but not on to the model, so its pictures are always masked unstructured;
here the mode reaches the model (audio masking ``unstructured``, ``time``, ``freq`` or ``tf``;
the frame is always masked unstructured).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from avprep import atomic
from avprep.data.image import IMAGENET_MEAN, IMAGENET_STD
from avprep.errors import InputError
from avprep.constants import MASK_MODES
from avprep.models import CAVMAE, unpatchify
from avprep.train.represent import (MIDDLE_FRAME, ClipDataset, clip_config, data_ids,
                                    load_encoder)
from avprep.train.runtime import setup_runtime

PathLike = Union[str, "os.PathLike[str]"]

#: clips drawn when no ids are chosen (the original draws the first 4)
DEFAULT_COUNT = 4


@dataclass
class Picture:
    """One clip's figure: where it is, and the pixel losses over the removed patches."""

    video_id: str
    path: Path
    loss_a: float
    loss_v: float


def _panels(model: CAVMAE, fbank: torch.Tensor, image: torch.Tensor, ratio_a: float,
            ratio_v: float, mask_mode: str, device: torch.device):
    """Original, masked and pasted reconstruction of the image ``[H, W, 3]`` (0-1) and of the
    spectrogram ``[128, T]`` (normalized), and the two losses."""
    a, v = fbank[None], image[None]
    outputs = model.forward_inpaint(a.to(device), v.to(device), ratio_a, ratio_v,
                                    mask_mode=mask_mode)
    pred_a, pred_v, mask_a, mask_v, loss_a, loss_v = (x.float().cpu() for x in outputs)
    p = model.patch_embed_a.proj.kernel_size[0]
    f_rows, t_cols = model.audio_grid
    g = model.video_grid[0]
    rec_v = unpatchify(pred_v.float(), 3, g, g, p)[0]
    rec_a = unpatchify(pred_a.float(), 1, f_rows, t_cols, p)[0, 0]
    m_v = unpatchify(mask_v[..., None].float().expand(-1, -1, p * p * 3), 3, g, g, p)[0]
    m_a = unpatchify(mask_a[..., None].float().expand(-1, -1, p * p), 1, f_rows, t_cols, p)[0, 0]
    spec = a[0].t()  # [128 bins, T frames], as the model patchifies it
    img = v[0]
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)

    def shown(x: torch.Tensor) -> np.ndarray:
        return (x * std + mean).clamp(0, 1).permute(1, 2, 0).numpy()

    images = [shown(img), shown(img * (1 - m_v)), shown(img * (1 - m_v) + rec_v * m_v)]
    specs = [spec.numpy(), (spec * (1 - m_a)).numpy(), (spec * (1 - m_a) + rec_a * m_a).numpy()]
    return images, specs, float(loss_a), float(loss_v)


def draw(path: PathLike, images: Sequence[np.ndarray], specs: Sequence[np.ndarray],
         title: str) -> None:
    """Write the 2 x 3 figure (images on top, spectrograms below) as a PNG, atomically."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(15, 6), dpi=100)
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(2, 3, height_ratios=[1.6, 1], left=0.01, right=0.99, bottom=0.01,
                            top=0.9, wspace=0.04, hspace=0.12)
    names = ("Original", "Masked", "Reconstructed")
    lo, hi = float(np.min(specs[0])), float(np.max(specs[0]))
    for col in range(3):
        ax = fig.add_subplot(grid[0, col])
        ax.imshow(images[col])
        ax.set_title(f"{names[col]} Image", fontsize=12)
        ax.axis("off")
        ax = fig.add_subplot(grid[1, col])
        ax.imshow(specs[col], origin="lower", aspect="auto", vmin=lo, vmax=hi, cmap="viridis",
                  interpolation="nearest")
        ax.set_title(f"{names[col]} Spectrogram", fontsize=12)
        ax.axis("off")
    fig.suptitle(title, fontsize=11)
    with atomic.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")


def choose(all_ids: Sequence[str], ids: Optional[Sequence[str]], count: int) -> List[int]:
    """List indices of the chosen ``ids`` (each must be in the list), else the first ``count``."""
    if not ids:
        return list(range(min(count, len(all_ids))))
    where = {}
    for i, vid in enumerate(all_ids):
        where.setdefault(vid, i)
    missing = [vid for vid in ids if vid not in where]
    if missing:
        raise InputError(f"not in the data: {', '.join(missing[:10])}"
                         + (f" and {len(missing) - 10} more" if len(missing) > 10 else ""))
    return [where[vid] for vid in dict.fromkeys(ids)]


@torch.no_grad()
def reconstruct(model: PathLike, data: PathLike, out_dir: PathLike, *,
                ids: Optional[Sequence[str]] = None, count: int = DEFAULT_COUNT,
                mask_ratio_a: float = 0.75, mask_ratio_v: float = 0.75,
                mask_mode: str = "unstructured", seed: int = 2, mean: Optional[float] = None,
                std: Optional[float] = None, frame: int = MIDDLE_FRAME,
                device: Optional[str] = None
                ) -> Tuple[List[Picture], List[Tuple[str, str]]]:
    """Draw the inpainting figure of each chosen clip of ``data`` into ``out_dir/<id>.png``
    (see the module notes); return what was drawn and the clips that could not be read
    ``(video_id, reason)``."""
    if mask_mode not in MASK_MODES:
        raise InputError(f"mask mode must be one of {MASK_MODES}, got {mask_mode!r}")
    for name, ratio in (("audio", mask_ratio_a), ("visual", mask_ratio_v)):
        if not 0 <= ratio < 1:
            raise InputError(f"{name} masking ratio must be in [0, 1), got {ratio}")
    net, _report = load_encoder(model)
    if not isinstance(net, CAVMAE):
        raise InputError("reconstruction needs a pretraining checkpoint (with the decoder), "
                         "such as cav-mae-base-nonorm; this one is fine-tuned", model)
    runtime = setup_runtime(False, device)
    net = net.to(runtime.device)
    dataset = ClipDataset(data, clip_config(net, mean, std, frame),
                          choose(data_ids(data), ids, count))
    out = Path(out_dir)
    pictures, failures = [], []
    for k in range(len(dataset)):
        fbank, image, _, error = dataset[k]
        vid = dataset.video_ids[k]
        if error:
            failures.append((vid, error))
            continue
        torch.manual_seed(seed)
        images, specs, loss_a, loss_v = _panels(net, fbank, image, mask_ratio_a, mask_ratio_v,
                                                mask_mode, runtime.device)
        path = out / f"{vid}.png"
        draw(path, images, specs, f"{vid}: masking audio {mask_ratio_a:g} ({mask_mode}), "
             f"visual {mask_ratio_v:g}; loss over removed patches: audio {loss_a:.4f}, "
             f"visual {loss_v:.4f}")
        pictures.append(Picture(vid, path, loss_a, loss_v))
    return pictures, failures
