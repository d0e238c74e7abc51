#!/usr/bin/env python
"""Training throughput of the CAV-MAE pretraining model: SDPA attention against the explicit
softmax attention (the original's arithmetic), in float32 and, on CUDA, with mixed precision.

Each configuration runs the full training step (forward with 75% masking, MAE + contrastive loss,
backward, Adam step) on random inputs of the real shapes (1024 x 128 fbank, 224 x 224 image) and
reports samples per second and the ratio to the explicit float32 baseline measured in the same run.
On CPU the configurations are timed in interleaved rounds and each keeps its best round.

Example:
    python scripts/bench_train.py                      # CPU: reduced 'small' model, ~30 s
    python scripts/bench_train.py --size base -b 48    # GPU: ViT-Base, the released size
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any, Callable, Dict, List, Tuple

import torch

from avprep.models import build, use_attention

#: Model sizes for the benchmark: the named model sizes plus a reduced one for CPU runs.
BENCH_SIZES = {
    "tiny": dict(size="tiny"),
    "small": dict(size="base", embed_dim=192, num_heads=3, modality_specific_depth=2,
                  shared_depth=1, decoder_embed_dim=128, decoder_depth=1, decoder_num_heads=4),
    "base": dict(size="base"),
}


def parse_args() -> argparse.Namespace:
    """Command-line options, with defaults that depend on whether CUDA is used."""
    cuda = torch.cuda.is_available()
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 2)[2])
    p.add_argument("--device", default="cuda" if cuda else "cpu")
    p.add_argument("--size", choices=sorted(BENCH_SIZES), default=None,
                   help="model size (default: base on CUDA, small on CPU)")
    p.add_argument("-b", "--batch-size", type=int, default=None,
                   help="samples per step (default: 48 on CUDA, 2 on CPU)")
    p.add_argument("--steps", type=int, default=None,
                   help="timed steps per round (default 10 CUDA, 2 CPU)")
    p.add_argument("--rounds", type=int, default=3, help="timed rounds; the best one counts")
    p.add_argument("--warmup", type=int, default=None, help="untimed steps (default 5 CUDA, 1 CPU)")
    p.add_argument("--target-length", type=int, default=1024, help="fbank frames")
    p.add_argument("--no-amp", action="store_true", help="skip the mixed-precision rows on CUDA")
    p.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = p.parse_args()
    on_cuda = args.device.startswith("cuda")
    args.size = args.size or ("base" if on_cuda else "small")
    args.batch_size = args.batch_size or (48 if on_cuda else 2)
    args.steps = args.steps or (10 if on_cuda else 2)
    args.warmup = args.warmup if args.warmup is not None else (5 if on_cuda else 1)
    return args


def sync(device: torch.device) -> None:
    """Wait for queued GPU work (timings must include it)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def make_step(args: argparse.Namespace, impl: str, amp: bool) -> Callable[[], None]:
    """A closure running one training step of a fresh model with attention ``impl``."""
    device = torch.device(args.device)
    torch.manual_seed(0)
    cfg = dict(BENCH_SIZES[args.size])
    size = cfg.pop("size")
    model = build("cavmae", size, audio_length=args.target_length, **cfg).to(device)
    use_attention(model, impl)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=1e-4, weight_decay=5e-7, betas=(0.95, 0.999))
    scaler = torch.amp.GradScaler(device.type, enabled=amp)
    audio = torch.randn(args.batch_size, args.target_length, 128, device=device)
    imgs = torch.randn(args.batch_size, 3, 224, 224, device=device)

    def step() -> None:
        with torch.autocast(device.type, dtype=torch.float16, enabled=amp):
            loss = model(audio, imgs)[0]
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()

    return step


def timed(args: argparse.Namespace, step: Callable[[], None]) -> Dict[str, float]:
    """Seconds per step over ``args.steps`` steps, and the peak GPU memory meanwhile."""
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    sync(device)
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    sync(device)
    per_step = (time.perf_counter() - start) / args.steps
    peak = torch.cuda.max_memory_allocated(device) / 2 ** 30 if device.type == "cuda" else 0.0
    return {"step_s": per_step, "peak_gib": peak}


def run_all(args: argparse.Namespace, configs: List[Tuple[str, bool]]) -> List[Dict[str, Any]]:
    """Time every configuration in interleaved rounds and keep each one's best round, so that
    load from other processes bursts hurts all of them alike."""
    device = torch.device(args.device)
    rows = []
    for impl, amp in configs:
        step = make_step(args, impl, amp)
        for _ in range(args.warmup):
            step()
        rows.append({"attention": impl, "amp": amp, "step": step, "best": None})
        if device.type == "cuda":  # one model at a time on the GPU: time it now
            rows[-1]["best"] = min((timed(args, step) for _ in range(args.rounds)),
                                   key=lambda r: r["step_s"])
            rows[-1]["step"] = None
            torch.cuda.empty_cache()
    for _ in range(args.rounds if device.type != "cuda" else 0):
        for row in rows:
            result = timed(args, row["step"])
            if row["best"] is None or result["step_s"] < row["best"]["step_s"]:
                row["best"] = result
    out = []
    for row in rows:
        best = row["best"]
        out.append({"attention": row["attention"], "amp": row["amp"],
                    "samples_per_s": args.batch_size / best["step_s"],
                    "step_s": best["step_s"], "peak_gib": best["peak_gib"]})
    return out


def main() -> int:
    """Run every configuration and print the table."""
    args = parse_args()
    device = torch.device(args.device)
    amps = [False] + ([True] if device.type == "cuda" and not args.no_amp else [])
    rows = run_all(args, [(impl, amp) for amp in amps for impl in ("explicit", "sdpa")])
    base = rows[0]["samples_per_s"]
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else \
        f"CPU ({torch.get_num_threads()} threads)"
    print(f"CAVMAE training step, size {args.size}, batch {args.batch_size}, "
          f"{args.target_length} frames + 224x224 image, best of {args.rounds} rounds of "
          f"{args.steps} steps on {name}")
    print(f"{'attention':<10} {'amp':<5} {'samples/s':>10} {'s/step':>8} {'vs explicit fp32':>17}"
          f" {'peak GiB':>9}")
    for r in rows:
        print(f"{r['attention']:<10} {str(r['amp']):<5} {r['samples_per_s']:>10.2f} "
              f"{r['step_s']:>8.3f} {r['samples_per_s'] / base:>16.2f}x {r['peak_gib']:>9.2f}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"device": name, "size": args.size, "batch_size": args.batch_size,
                       "steps": args.steps, "rounds": args.rounds, "rows": rows}, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
