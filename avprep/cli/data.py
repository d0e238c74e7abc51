"""``avprep inspect-batch``: load batches through the Dataset (and the balanced sampler) and report."""

from __future__ import annotations

import argparse
import time

from avprep.cli import add_command, add_option


def register(subparsers: "argparse._SubParsersAction") -> None:
    """Add ``inspect-batch``."""
    parser = add_command(
        subparsers, "inspect-batch",
        "load batches through the Dataset and balanced sampler; print shapes, labels and speed",
        """
        Load a few batches of a data list (or a pack folder) through AudiosetDataset, drawn by
        BalancedSampler when --weights is given, exactly as training code would, and print the
        tensor shapes, the drawn rows, the labels of the first batch and samples/s. A quick check
        that a prepared list is ready to train on: any unreadable clip is an error naming it.
        """,
        """
        avprep inspect-batch out/lists/audioset_2m_cleaned.json --labels class_labels_indices.csv \\
            --weights out/lists/audioset_2m_cleaned_weight.csv --batch-size 8 --batches 2
        """,
        _run)
    parser.add_argument("data", help="JSON data list or pack folder")
    add_option(parser, "--labels", required=True, help="label CSV (index,mid,display_name)")
    add_option(parser, "--weights", help="sample-weight CSV: draw with BalancedSampler")
    parser.add_argument("--mode", choices=("train", "eval"), default="train",
                        help="train draws a random frame and applies --noise; default train")
    parser.add_argument("--noise", action="store_true", help="add the noise augmentation")
    add_option(parser, "--batch-size", type=int, default=4, help="default 4")
    parser.add_argument("--batches", type=int, default=1, help="how many batches; default 1")
    parser.add_argument("--seed", type=int, default=0, help="sampler and augmentation seed")


def _run(args: argparse.Namespace) -> int:
    import torch

    from avprep.data import AudiosetDataset, BalancedSampler, load_weights

    dataset = AudiosetDataset(args.data, {"mode": args.mode, "noise": args.noise,
                                          "seed": args.seed}, args.labels)
    sampler = None
    if args.weights:
        sampler = BalancedSampler(load_weights(args.weights, len(dataset)), seed=args.seed)
    loader = torch.utils.data.DataLoader(dataset, batch_size=args.batch_size, sampler=sampler,
                                         shuffle=sampler is None)
    start, seen = time.perf_counter(), 0
    for number, (fbank, image, label) in enumerate(loader, 1):
        seen += len(fbank)
        if number == 1:
            print(f"batch of {len(fbank)}: fbank {tuple(fbank.shape)}, image {tuple(image.shape)}, "
                  f"label {tuple(label.shape)}")
            print(f"  labels per clip: {[int(n) for n in (label > 0.5).sum(dim=1)]}; "
                  f"fbank mean {fbank.mean():.3f}, image mean {image.mean():.3f}")
        if number >= args.batches:
            break
    elapsed = time.perf_counter() - start
    if sampler is not None:
        print(f"  balanced sampler: first draws {list(sampler)[:8]}")
    print(f"{seen} samples in {elapsed:.2f} s ({seen / max(elapsed, 1e-9):.1f} samples/s, one process)")
    return 0
