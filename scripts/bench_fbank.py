#!/usr/bin/env python
"""Benchmark: Kaldi fbank clips/s for torchaudio per clip, avprep per clip, avprep batched (CPU,
and CUDA when present). Each avprep result is checked against torchaudio in the same run.

    python scripts/bench_fbank.py --clips 64 --seconds 10 --batch 32 --threads 1
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torchaudio.compliance.kaldi as kaldi

from avprep.features import fbank, fbank_batch, fbank_parity, remove_mean


def torchaudio_fbank(w):
    return kaldi.fbank(w, htk_compat=True, sample_frequency=16000, use_energy=False,
                       window_type="hanning", num_mel_bins=128, dither=0.0, frame_shift=10)


def make_clips(n, seconds, seed=0):
    """Mean-removed 16-bit-quantized clips: tones, noise and silence in varying mixes."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 16000)) / 16000
    clips = []
    for i in range(n):
        x = 0.2 * np.sin(2 * np.pi * rng.uniform(100, 4000) * t) + rng.uniform(0, 0.05) * \
            rng.standard_normal(t.size)
        x[: rng.integers(0, t.size // 4)] = 0.0  # leading digital silence
        pcm = np.clip(np.round(x * 32768), -32768, 32767).astype(np.int16)
        clips.append(remove_mean(torch.from_numpy(pcm[None].astype(np.float32) / 32768)))
    return clips


def timed(fn, repeat):
    best = float("inf")
    out = None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=int, default=64)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    clips = make_clips(args.clips, args.seconds)
    n = len(clips)

    def batched(device=None):
        out = []
        for i in range(0, n, args.batch):
            out.extend(fbank_batch([c[0] for c in clips[i:i + args.batch]], device=device))
        if device == "cuda":
            torch.cuda.synchronize()
        return out

    rows = []
    t_ref, ref = timed(lambda: [torchaudio_fbank(c) for c in clips], args.repeat)
    rows.append(("torchaudio per clip (cpu)", t_ref, "reference"))
    t, got = timed(lambda: [fbank(c) for c in clips], args.repeat)
    same = all(torch.equal(a, b) for a, b in zip(got, ref))
    rows.append(("avprep per clip (cpu)", t, "identical" if same else "DIFFERS"))
    t, got = timed(batched, args.repeat)
    same = all(torch.equal(a, b) for a, b in zip(got, ref))
    rows.append((f"avprep batched x{args.batch} (cpu)", t, "identical" if same else "DIFFERS"))
    if torch.cuda.is_available():
        batched("cuda")  # warm-up: CUDA context, cuFFT plans
        t, got = timed(lambda: batched("cuda"), args.repeat)
        reports = [fbank_parity(a.cpu(), b) for a, b in zip(got, ref)]
        worst = max(r.max_loud for r in reports)
        rows.append((f"avprep batched x{args.batch} (cuda, incl. copies)", t,
                     f"parity {'ok' if all(r.ok for r in reports) else 'FAILS'} "
                     f"(max loud diff {worst:.2g})"))
        on_gpu = [c.cuda() for c in clips]
        torch.cuda.synchronize()

        def resident():
            out = []
            for i in range(0, n, args.batch):
                out.extend(fbank_batch([c[0] for c in on_gpu[i:i + args.batch]]))
            torch.cuda.synchronize()
            return out
        resident()
        t, _ = timed(resident, args.repeat)
        rows.append((f"avprep batched x{args.batch} (cuda, data on gpu)", t, ""))

    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    print(f"{n} clips of {args.seconds:g} s, torch threads {args.threads}, {device}; "
          f"best of {args.repeat}")
    print(f"{'method':48s} {'clips/s':>10s} {'ms/clip':>8s} {'vs torchaudio':>13s}  check")
    for name, t, note in rows:
        print(f"{name:48s} {n / t:10.1f} {1e3 * t / n:8.3f} {t_ref / t:12.2f}x  {note}")


if __name__ == "__main__":
    main()
