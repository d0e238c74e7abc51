"""Clip representations through a CAV-MAE encoder: what ``retrieval``, ``embed`` and
``reconstruct`` share.

A checkpoint (file or model-zoo name, pretrained or fine-tuned) is loaded into the model of its
own kind with every key matching. Clips are read as the original's retrieval script reads them:
eval mode, no augmentation, the middle frame (5 of 0..9), the fbank normalized with the published
mean and std and cut or padded to the model's audio length. Features are the unmasked
``forward_feat`` tokens (each modality through its own blocks, then the shared blocks with its own
norms); the clip's vector is their mean over tokens.

Labels play no part here, so no label CSV is needed. A clip whose media cannot be read is recorded
as a failure with its reason and left out; the others go on.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Iterator, List, Optional, Sequence, Tuple, Union

import torch
from torch.utils.data import DataLoader, Dataset

from avprep.data.builder import SampleBuilder
from avprep.constants import NORM_MEAN, NORM_STD
from avprep.data.config import AVConfig
from avprep.data.sources import PackSource, Source, open_source
from avprep.errors import MediaError
from avprep.models import LoadReport, load
from avprep.progress import progress
from avprep.train.runtime import Runtime, autocast

PathLike = Union[str, "os.PathLike[str]"]

#: the frame the original retrieval and representation scripts use (``frame_use = 5``)
MIDDLE_FRAME = 5


def load_encoder(model: PathLike) -> Tuple[torch.nn.Module, LoadReport]:
    """The CAVMAE or CAVMAEFT that checkpoint ``model`` (a file or a model-zoo name) holds,
    loaded strictly, in eval mode, on the CPU; and the load report."""
    net, report = load(model)
    return net.eval(), report


def audio_length(model: torch.nn.Module) -> int:
    """Fbank frames per clip that ``model`` takes (its audio position table's length)."""
    patch = model.patch_embed_a.proj.kernel_size[0]
    return int(model.audio_grid[1] * patch)


def clip_config(model: torch.nn.Module, mean: Optional[float] = None, std: Optional[float] = None,
                frame: int = MIDDLE_FRAME) -> AVConfig:
    """The loader settings for ``model``: eval mode, frame ``frame``, no augmentation, strict."""
    return AVConfig(target_length=audio_length(model), mode="eval", frame_use=frame,
                    mean=NORM_MEAN if mean is None else mean,
                    std=NORM_STD if std is None else std, strict=True)


def data_ids(data: PathLike) -> List[str]:
    """The video ids of a JSON list or pack folder, in order, without reading any media."""
    return source_ids(open_source(os.fspath(data)))


def source_ids(source: Source) -> List[str]:
    """The video ids of an opened list or pack, in order."""
    if isinstance(source, PackSource):
        from avprep.store import open_store
        return open_store(source.path).video_ids
    return list(source.data.video_id)  # type: ignore[union-attr]


class ClipDataset(Dataset):
    """Eval-mode clips of a list or pack, without labels: item ``k`` is
    ``(fbank [T, 128], image [3, 224, 224], k, error)`` for the ``k``-th of ``indices`` (default:
    every clip). ``error`` is "" for a clip that was read, else the reason it could not be (its
    tensors are then zeros)."""

    def __init__(self, data: PathLike, config: AVConfig,
                 indices: Optional[Sequence[int]] = None):
        self.source = open_source(os.fspath(data))
        self.config = config
        self.builder = SampleBuilder(self.source, {}, config)
        all_ids = source_ids(self.source)
        self.indices = list(range(len(all_ids))) if indices is None else [int(i) for i in indices]
        self.video_ids = [all_ids[i] for i in self.indices]

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, k: int) -> Tuple[torch.Tensor, torch.Tensor, int, str]:
        b = self.builder
        try:
            clip, plan, partner = b.parts(self.indices[k], 0)
            image = b.image(clip, plan, partner)
            fbank = b.fbank(clip, plan, partner)
        except MediaError as err:
            cfg = self.config
            return (torch.zeros(cfg.target_length, cfg.num_mel_bins),
                    torch.zeros(3, cfg.im_res, cfg.im_res), k, str(err) or type(err).__name__)
        return fbank, image, k, ""


@dataclass
class FeatureBatch:
    """One batch of clips through the encoder: ids, mean-pooled ``audio``/``video`` ``[B, D]``
    (float32, CPU), the token sequences when asked for, and the clips that failed."""

    ids: List[str]
    audio: torch.Tensor
    video: torch.Tensor
    audio_tokens: Optional[torch.Tensor] = None
    video_tokens: Optional[torch.Tensor] = None
    failures: List[Tuple[str, str]] = field(default_factory=list)


@torch.no_grad()
def encode(model: torch.nn.Module, dataset: ClipDataset, batch_size: int, num_workers: int,
           runtime: Runtime, tokens: bool = False, desc: str = "encoding"
           ) -> Iterator[FeatureBatch]:
    """Run ``dataset``'s clips through ``model.forward_feat`` in order, a batch at a time.

    Failed clips are left out of their batch's tensors and listed in its ``failures`` as
    ``(video_id, reason)``.
    """
    model.eval()
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers,
                        pin_memory=runtime.device.type == "cuda")
    for a, v, ks, errors in progress(loader, total=len(loader), desc=desc, unit="batch"):
        ok = [j for j, e in enumerate(errors) if not e]
        failures = [(dataset.video_ids[int(ks[j])], errors[j]) for j, e in enumerate(errors) if e]
        ids = [dataset.video_ids[int(ks[j])] for j in ok]
        if not ok:
            dim = model.modality_a.shape[-1]
            yield FeatureBatch([], torch.zeros(0, dim), torch.zeros(0, dim), failures=failures)
            continue
        keep = torch.tensor(ok)
        a = a[keep].to(runtime.device, non_blocking=True)
        v = v[keep].to(runtime.device, non_blocking=True)
        with autocast(runtime):
            ta, tv = model.forward_feat(a, v)
        ta, tv = ta.float(), tv.float()
        yield FeatureBatch(ids, ta.mean(dim=1).cpu(), tv.mean(dim=1).cpu(),
                           ta.cpu() if tokens else None, tv.cpu() if tokens else None, failures)
