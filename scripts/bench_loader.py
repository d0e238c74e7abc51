"""Loader speed: samples/s per process for the straightforward way, avprep from loose files, avprep
from a pack made with ``--fbank`` (given as the folder, and as a list that ``build-list --pack``
points into it), and DataLoaders with 1, 2 and more workers (``--workers``), with the
DataLoader's own ceiling: the rate at which it moves finished samples of the same shapes between
processes.

Also avprep from loose files in batch-fbank mode (the loader returns waveforms; the fbank is left
to ``BatchFbank`` on the training device), which shows the loader's cost without the Kaldi fbank.
The per-step breakdown gives a pack record's cost when every column is built (the reader before
it built only what a sample uses) and when only one frame and the fbank are.

Clips are copies of the fixture wavs and frames under distinct ids (so every timed sample is a
different clip, read once); the pack is written from the same list. All figures come from one
run, one torch thread per process; compare the ratios, not the absolute numbers.

    python scripts/bench_loader.py [--clips 60] [--rounds 3] [--workers 1,2,4] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT.parent / "shared" / "fixtures" / "cavmae-samples"
REF = SAMPLES / "ref"
LABEL_CSV = SAMPLES / "class_labels_indices_as.csv"
EVAL_CONF = {"num_mel_bins": 128, "target_length": 1024, "mode": "eval", "mean": -5.081,
             "std": 4.4849, "freqm": 0, "timem": 0, "mixup": 0, "noise": False}


def make_clips(folder: Path, count: int) -> Path:
    """``count`` clips (copies of the reference clips, new ids) and a JSON list of them."""
    sources = json.loads((REF / "clips.json").read_text())
    audio, frames = folder / "audio", folder / "frames"
    audio.mkdir(parents=True)
    for k in range(10):
        (frames / f"frame_{k}").mkdir(parents=True)
    entries = []
    for i in range(count):
        src = sources[i % len(sources)]
        vid = f"bench{i:05d}_{src['video_id']}"
        shutil.copyfile(REF / "audio" / f"{src['video_id']}.wav", audio / f"{vid}.wav")
        for k in range(10):
            shutil.copyfile(REF / "frames" / f"frame_{k}" / f"{src['video_id']}.jpg",
                            frames / f"frame_{k}" / f"{vid}.jpg")
        entries.append({"video_id": vid, "wav": str(audio / f"{vid}.wav"),
                        "video_path": str(frames), "labels": src["labels"]})
    path = folder / "list.json"
    path.write_text(json.dumps({"data": entries}))
    return path


class Straightforward(torch.utils.data.Dataset):
    """The plain way, per sample: read wav, torchaudio Kaldi fbank, PIL open/resize/crop,
    normalize (what the original loader does, with soundfile in place of torchaudio.load)."""

    def __init__(self, list_path: Path):
        import csv
        self.entries = json.loads(Path(list_path).read_text())["data"]
        with open(LABEL_CSV, newline="") as fh:
            self.index = {row["mid"]: int(row["index"]) for row in csv.DictReader(fh)}
        self.mean = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
        self.std = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, i: int):
        import soundfile
        import torchaudio
        from PIL import Image
        e = self.entries[i]
        data, sr = soundfile.read(e["wav"], dtype="float32", always_2d=True)
        wave = torch.from_numpy(data.T.copy())
        wave = wave - wave.mean()
        fb = torchaudio.compliance.kaldi.fbank(wave, htk_compat=True, sample_frequency=sr,
                                               use_energy=False, window_type="hanning",
                                               num_mel_bins=128, dither=0.0, frame_shift=10)
        fb = torch.nn.functional.pad(fb, (0, 0, 0, 1024 - fb.shape[0]))[:1024]
        fb = (fb + 5.081) / 4.4849
        img = Image.open(f"{e['video_path']}/frame_5/{e['video_id']}.jpg").convert("RGB")
        w, h = img.size
        size = (224, int(224 * h / w)) if w <= h else (int(224 * w / h), 224)
        img = img.resize(size, Image.Resampling.BICUBIC)
        left, top = round((img.width - 224) / 2), round((img.height - 224) / 2)
        img = img.crop((left, top, left + 224, top + 224))
        image = torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1).float() / 255
        image = (image - self.mean) / self.std
        label = torch.zeros(len(self.index))
        for mid in e["labels"].split(","):
            label[self.index[mid]] = 1.0
        return fb, image, label


class ReadyTensors(torch.utils.data.Dataset):
    """Copies of one finished sample: what a DataLoader moves per sample, at no reading cost
    (the ceiling its transfer between processes puts on any loader)."""

    def __init__(self, sample, n: int):
        self.sample, self.n = tuple(sample[:3]), n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int):
        return tuple(x.clone() for x in self.sample)


def per_process_rate(dataset, indices) -> float:
    """Samples/s reading ``indices`` once each in this process."""
    start = time.perf_counter()
    for i in indices:
        dataset[i]
    return len(indices) / (time.perf_counter() - start)


def loader_rate(dataset, indices, workers: int) -> float:
    """Samples/s of a DataLoader over ``indices`` (batch 8) once its first batch has arrived, so
    that the workers' start-up is left out."""
    subset = torch.utils.data.Subset(dataset, list(indices))
    loader = iter(torch.utils.data.DataLoader(subset, batch_size=8, num_workers=workers))
    next(loader)
    start = time.perf_counter()
    count = sum(len(batch[0]) for batch in loader)
    return count / (time.perf_counter() - start)


def breakdown(list_path: Path, pack_dir: Path, n: int) -> dict:
    """Milliseconds per sample of each step, loose files vs pack."""
    from avprep.data.image import load_image
    from avprep.features import fbank, load_wav, normalize, pad_or_cut
    from avprep.layout import frame_path
    from avprep.lists import read_list
    from avprep.store import open_store
    data = read_list(list_path)
    store = open_store(pack_dir)
    steps = {k: 0.0 for k in ("read wav", "kaldi fbank", "pad+normalize", "read+decode frame",
                              "pack: record, every column built",
                              "pack: record, what a sample uses", "pack: decode frame")}
    for i in range(n):
        e = data[i]
        t0 = time.perf_counter()
        wave, sr = load_wav(e.wav)
        t1 = time.perf_counter()
        fb = fbank(wave - wave.mean(), sr)
        t2 = time.perf_counter()
        normalize(pad_or_cut(fb))
        t3 = time.perf_counter()
        load_image(frame_path(e.video_path, 5, e.video_id))
        t4 = time.perf_counter()
        rec = store[i]
        _every = (rec.labels, rec.label_indices, rec.sample_rate, rec.pcm, list(rec.frames),
                  rec.fbank)
        t5 = time.perf_counter()
        rec = store[i]
        jpeg, _fb, _labels = rec.frames[5], rec.fbank, rec.labels
        t6 = time.perf_counter()
        load_image(jpeg)
        t7 = time.perf_counter()
        for key, dt in zip(steps, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t6 - t5,
                                   t7 - t6)):
            steps[key] += dt
    return {k: round(1000 * v / n, 3) for k, v in steps.items()}


def pack_list(pack_dir: Path, list_path: Path, out: Path) -> Path:
    """The list ``build-list --pack`` writes for the clips of ``list_path`` (all in the pack)."""
    from avprep.lists import read_list, write_list
    from avprep.lists.build import build_list
    from avprep.store.index import PackIndex

    write_list(out, build_list(read_list(list_path), media=PackIndex(pack_dir)).data)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clips", type=int, default=60, help="clips per measurement")
    parser.add_argument("--rounds", type=int, default=3,
                        help="interleaved rounds of the per-process rows; the best counts "
                             "(default 3)")
    parser.add_argument("--workers", default="1,2",
                        help="DataLoader worker counts, comma-separated (default 1,2)")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args()
    worker_counts = [int(w) for w in args.workers.split(",") if w.strip()]
    torch.set_num_threads(1)
    os.environ.setdefault("AVPREP_PROGRESS", "0")

    from avprep.atomic import write_text
    from avprep.data import AudiosetDataset
    from avprep.store.pack import pack

    work = Path(tempfile.mkdtemp(prefix="bench_loader_"))
    try:
        n, rounds = args.clips, max(1, args.rounds)
        # distinct clips for each measurement (3n per DataLoader row), plus one to warm up
        loaders = [(kind, w) for kind in ("straightforward", "loose", "pack")
                   for w in worker_counts]
        sizes = [n] * (5 * rounds) + [3 * n] * len(loaders)
        starts = np.cumsum([0] + sizes)
        total = int(starts[-1]) + 1
        list_path = make_clips(work, total)
        t = time.perf_counter()
        pack(list_path, work / "pack", labels=LABEL_CSV, fbank="float32")
        pack_s = time.perf_counter() - t
        into_pack = pack_list(work / "pack", list_path, work / "pack_list.json")
        plain = Straightforward(list_path)
        loose = AudiosetDataset(str(list_path), EVAL_CONF, str(LABEL_CSV))
        packed = AudiosetDataset(str(work / "pack"), EVAL_CONF, str(LABEL_CSV))
        listed = AudiosetDataset(str(into_pack), EVAL_CONF, str(LABEL_CSV))
        waves = AudiosetDataset(str(list_path), dict(EVAL_CONF, batch_fbank=True),
                                str(LABEL_CSV))
        for ds in (plain, loose, packed, listed, waves):
            ds[total - 1]
        block = [range(int(a), int(b)) for a, b in zip(starts[:-1], starts[1:])]
        readers = {"straightforward": plain, "avprep loose files": loose,
                   "avprep pack --fbank": packed, "avprep list into the pack": listed,
                   "avprep loose, batch_fbank mode": waves}
        results = dict.fromkeys(readers, 0.0)
        for r in range(rounds):  # interleaved rounds, the best of each reader
            for k, (name, ds) in enumerate(readers.items()):
                rate = per_process_rate(ds, block[r * len(readers) + k])
                results[name] = max(results[name], rate)
        datasets = {"straightforward": plain, "loose": loose, "pack": packed}
        for k, (kind, w) in enumerate(loaders):
            name = f"DataLoader {kind}, {w} worker{'s' if w > 1 else ''}"
            results[name] = loader_rate(datasets[kind], block[5 * rounds + k], w)
        ready = ReadyTensors(packed[0], 3 * n)
        for w in worker_counts:
            results[f"DataLoader ready tensors, {w} worker{'s' if w > 1 else ''}"] = \
                loader_rate(ready, range(3 * n), w)
        base = results["straightforward"]
        print(f"{n} clips per process row (best of {rounds} interleaved rounds), {3 * n} per "
              f"DataLoader row (batch 8, timed after the first batch), torch threads 1, "
              f"{os.cpu_count()} CPUs; pack --fbank of {total} clips took {pack_s:.1f} s")
        print(f"{'reader':32s} {'samples/s':>10s} {'vs straightforward':>19s}")
        for name, rate in results.items():
            print(f"{name:32s} {rate:10.1f} {rate / base:18.2f}x")
        for w in worker_counts:  # a DataLoader against the straightforward one, same workers
            s_ = "s" if w > 1 else ""
            ratio = results[f"DataLoader pack, {w} worker{s_}"] / \
                results[f"DataLoader straightforward, {w} worker{s_}"]
            print(f"  pack vs straightforward with {w} worker{s_}: {ratio:.2f}x")
        steps = breakdown(list_path, work / "pack", min(n, 30))
        print("milliseconds per sample, by step:")
        for name, ms in steps.items():
            print(f"  {name:34s} {ms:8.3f}")
        if args.json:
            write_text(args.json, json.dumps({"samples_per_s": results, "ms_per_step": steps},
                                             indent=1))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
