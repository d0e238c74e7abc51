"""Evaluation data path: time to produce the 10-frame inputs of N clips, per-frame vs multi-frame.

- per-frame (the straightforward way): one eval-mode ``AudiosetDataset`` per frame, every clip
  read from each, so each wav is read and its Kaldi fbank computed 10 times;
- multi-frame: ``MultiFrameDataset`` over one eval-mode Dataset, each clip's fbank once with its
  10 frames.

Both produce the same tensors (checked here, bit for bit). Clips are copies of the fixture wavs and
frames under distinct ids. One process, one torch thread; each way runs ``--repeats`` times,
interleaved, and the best time of each is reported with the ratio.

    python scripts/bench_eval_frames.py [--clips 30] [--repeats 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_loader import EVAL_CONF, LABEL_CSV, make_clips  # noqa: E402

N_FRAMES = 10


def per_frame(list_path: Path) -> list:
    """Every clip's inputs the way one Dataset per frame makes them (frame-major)."""
    from avprep.data import AudiosetDataset

    out: list = []
    for frame in range(N_FRAMES):
        ds = AudiosetDataset(str(list_path), {**EVAL_CONF, "frame_use": frame}, str(LABEL_CSV))
        out.append([ds[i] for i in range(len(ds))])
    return out


def multi_frame(list_path: Path) -> list:
    """Every clip's inputs from ``MultiFrameDataset`` (clip-major)."""
    from avprep.data import AudiosetDataset, MultiFrameDataset

    ds = MultiFrameDataset(AudiosetDataset(str(list_path), EVAL_CONF, str(LABEL_CSV)),
                           range(N_FRAMES))
    return [ds[i] for i in range(len(ds))]


def same(old: list, new: list) -> bool:
    """Whether both ways gave the same fbank, label and frames for every clip."""
    for i, (fbank, images, label) in enumerate(new):
        for frame in range(N_FRAMES):
            f_fbank, f_image, f_label = old[frame][i]
            if not (torch.equal(fbank, f_fbank) and torch.equal(label, f_label)
                    and torch.equal(images[frame], f_image)):
                return False
    return True


def main() -> int:
    """Time both ways, print the figures; exit 1 if they did not give the same tensors."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        list_path = make_clips(Path(tmp), args.clips)
        times = {"per_frame": [], "multi_frame": []}
        old = new = None
        for _ in range(args.repeats):
            begin = time.perf_counter()
            old = per_frame(list_path)
            times["per_frame"].append(time.perf_counter() - begin)
            begin = time.perf_counter()
            new = multi_frame(list_path)
            times["multi_frame"].append(time.perf_counter() - begin)
        identical = same(old, new)
    best = {k: min(v) for k, v in times.items()}
    result = {"clips": args.clips, "frames": N_FRAMES, "repeats": args.repeats,
              "per_frame_s": best["per_frame"], "multi_frame_s": best["multi_frame"],
              "per_frame_ms_per_clip": 1000 * best["per_frame"] / args.clips,
              "multi_frame_ms_per_clip": 1000 * best["multi_frame"] / args.clips,
              "speedup": best["per_frame"] / best["multi_frame"], "identical": identical}
    for key, value in result.items():
        print(f"{key:24s} {value:.4f}" if isinstance(value, float) else f"{key:24s} {value}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
