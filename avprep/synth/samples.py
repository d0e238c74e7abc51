"""A small AudioSet- or VGGSound-like download folder and released-format files for it.

:func:`make_samples` writes, under its ``out`` folder:

- ``videos/``: a few clips made with the packaged ffmpeg (:func:`avprep.synth.make_clip`), named
  the ways real downloads are (AudioSet ``<ytid>_<start>.mp4``, ``Y<ytid>.mkv``, ``<ytid>.webm``;
  VGGSound ``<ytid>_<start>.mp4`` with padded and unpadded starts), plus, unless ``broken`` is
  False, one truncated download that extraction must record as a failure;
- ``released/``: the label CSV, the JSON lists and the train split's weight CSV under the
  released file names, in the released format (the authors' absolute paths). The lists also name
  clips that nobody has, as the real lists do for every user.

Used by ``make demo`` (through ``scripts/make_sample_clips.py``) and by the tests of the prepare
flows.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from avprep.lists import (DataList, Entry, LabelSet, compute_weights, write_labels, write_list,
                          write_weights)
from avprep.synth.clips import make_clip
from avprep.synth.lists import AUTHOR_AUDIO_DIR, AUTHOR_FRAME_DIR

__all__ = ["make_samples", "DATASETS", "AUDIOSET_CLASSES", "VGGSOUND_CLASSES", "FORMATS"]

# A few classes of each dataset; display names with commas exercise the CSV quoting.
AUDIOSET_CLASSES = [
    ("/m/09x0r", "Speech"),
    ("/m/05zppz", "Male speech, man speaking"),
    ("/m/04rlf", "Music"),
    ("/m/0jbk", "Animal"),
    ("/m/068hy", "Domestic animals, pets"),
    ("/m/07yv9", "Vehicle"),
]
VGGSOUND_CLASSES = [
    ("/m/vgg_0000", "people marching"),
    ("/m/vgg_0001", "dog barking"),
    ("/m/vgg_0002", "playing violin, fiddle"),
    ("/m/vgg_0003", "car engine starting"),
    ("/m/vgg_0004", "rain on surface"),
]

DATASETS = {
    "audioset": {
        "labels": "class_labels_indices.csv",
        "train": "audioset_2m_cleaned.json",
        "subsets": {"audioset_20k_cleaned.json": 0.5},
        "eval": "audioset_eval_cleaned.json",
        "eval_subsets": {"audioset_eval_5_per_class_for_retrieval_cleaned.json": 0.5},
        "weights": "audioset_2m_cleaned_weight.csv",
        "wav": AUTHOR_AUDIO_DIR + "{id}.flac",
        "frames": AUTHOR_FRAME_DIR,
        "classes": AUDIOSET_CLASSES,
    },
    "vggsound": {
        "labels": "class_labels_indices_vgg.csv",
        "train": "vgg_train_cleaned.json",
        "subsets": {},
        "eval": "vgg_test_cleaned.json",
        "eval_subsets": {"vgg_test_5_per_class_for_retrieval_cleaned.json": 0.5},
        "weights": "vgg_train_cleaned_weight.csv",
        "wav": "/data/sls/scratch/yuangong/vggsound/audio/{id}.flac",
        "frames": "/data/sls/scratch/yuangong/vggsound/image_mulframe/",
        "classes": VGGSOUND_CLASSES,
    },
}

# (container, video codec, audio codec, extra make_clip arguments): formats downloads come in
FORMATS = [
    ("mp4", "libx264", "aac", {}),
    ("webm", "libvpx-vp9", "libopus", {"sample_rate": 48000, "channels": 1}),
    ("mkv", "libx264", "libvorbis", {}),
    ("mp4", "mpeg4", "libmp3lame", {"width": 176, "height": 144}),
]
PATTERNS = ["testsrc2", "smptebars", "rgbtestsrc", "testsrc", "smptehdbars"]
YT_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"


def youtube_ids(n: int, rng: random.Random) -> List[str]:
    """``n`` distinct 11-character YouTube-like ids; the first starts with ``-``, as real ones
    may."""
    ids: List[str] = []
    while len(ids) < n:
        first = "-" if not ids else rng.choice(YT_CHARS[:-2])
        candidate = first + "".join(rng.choice(YT_CHARS) for _ in range(10))
        if candidate not in ids:
            ids.append(candidate)
    return ids


def download_name(dataset: str, ytid: str, start: int, k: int, ext: str) -> str:
    """A download file name for clip ``k``, cycling through the namings seen in the wild."""
    if dataset == "audioset":
        forms = [f"{ytid}_{start}.000.{ext}", f"Y{ytid}.{ext}", f"{ytid}.{ext}",
                 f"{ytid}_{start}.000_{start + 10}.000.{ext}"]
    else:
        forms = [f"{ytid}_{start:06d}.{ext}", f"{ytid}_{start}.{ext}",
                 f"{ytid}_{start}.000.{ext}"]
    return forms[k % len(forms)]


def list_id(dataset: str, ytid: str, start: int) -> str:
    """The id a released list of ``dataset`` uses for the clip."""
    return ytid if dataset == "audioset" else f"{ytid}_{start:06d}"


def released_entries(dataset: str, ids: Sequence[str], labels: Dict[str, str]) -> DataList:
    """Entries in the released form: the authors' paths, comma-joined mids."""
    spec = DATASETS[dataset]
    return DataList.from_entries(
        Entry(video_id=vid, wav=spec["wav"].format(id=vid), video_path=spec["frames"],
              labels=labels[vid]) for vid in ids)


def make_samples(out: Path, dataset: str = "audioset", clips: int = 6, missing: int = 4,
                 broken: bool = True, duration: float = 10.0, seed: int = 0) -> Dict[str, object]:
    """Write ``clips`` clips (plus a broken one) and released files naming ``missing`` more clips.

    Returns a description: the videos folder, the released folder, the ids that have a clip, the
    ids that nobody has, the broken download's id, the files written and the names of the lists,
    the train list, the eval list, the weight file and the label CSV.
    """
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; expected one of {sorted(DATASETS)}")
    spec = DATASETS[dataset]
    rng = random.Random(seed)
    out = Path(out)
    videos = out / "videos"
    released = out / "released"
    videos.mkdir(parents=True, exist_ok=True)
    released.mkdir(parents=True, exist_ok=True)

    ytids = youtube_ids(clips + missing + (1 if broken else 0), rng)
    starts = [rng.randrange(0, 300) for _ in ytids]
    ids = [list_id(dataset, y, s) for y, s in zip(ytids, starts)]
    classes = spec["classes"]
    mids = [mid for mid, _name in classes]
    labels = {}
    for k, vid in enumerate(ids):
        chosen = {mids[k % len(mids)]}
        if k % 3 == 0 and dataset == "audioset":
            chosen.add(mids[(k + 2) % len(mids)])
        labels[vid] = ",".join(m for m in mids if m in chosen)

    present = ids[:clips]
    for k in range(clips):
        ext, vcodec, acodec, extra = FORMATS[k % len(FORMATS)]
        args = {"width": 160, "height": 120, "fps": 25, **extra}
        name = download_name(dataset, ytids[k], starts[k], k, ext)
        make_clip(videos / name, duration=duration, vcodec=vcodec, acodec=acodec,
                  tone=220.0 + 110.0 * k, pattern=PATTERNS[k % len(PATTERNS)], **args)
    broken_id: Optional[str] = None
    if broken:
        broken_id = ids[-1]
        name = download_name(dataset, ytids[-1], starts[-1], 0, "mp4")
        whole = make_clip(out / ".broken-source.mp4", duration=2.0, width=160, height=120)
        data = whole.read_bytes()
        (videos / name).write_bytes(data[: len(data) // 3])  # a download cut off mid-file
        whole.unlink()
    nobody = ids[clips:clips + missing]

    # Released lists: train gets most clips and most of the missing ones, eval the rest.
    n_eval_present = max(1, clips // 3)
    n_eval_missing = max(1, missing // 4) if missing else 0
    train_ids = present[n_eval_present:] + nobody[n_eval_missing:]
    if broken_id is not None:
        train_ids.append(broken_id)
    eval_ids = present[:n_eval_present] + nobody[:n_eval_missing]
    rng.shuffle(train_ids)
    rng.shuffle(eval_ids)

    label_csv = released / spec["labels"]
    label_set = LabelSet.from_pairs(classes)
    write_labels(label_csv, label_set)
    written = [label_csv]
    train = released_entries(dataset, train_ids, labels)
    write_list(released / spec["train"], train)
    written.append(released / spec["train"])
    write_weights(released / spec["weights"], compute_weights(train, label_set))
    written.append(released / spec["weights"])
    write_list(released / spec["eval"], released_entries(dataset, eval_ids, labels))
    written.append(released / spec["eval"])
    # smaller released lists drawn from the train and eval lists (AudioSet-20K, retrieval sets)
    for source, subsets in ((train_ids, spec["subsets"]), (eval_ids, spec["eval_subsets"])):
        for name, fraction in subsets.items():
            subset = source[:max(1, int(len(source) * fraction))]
            write_list(released / name, released_entries(dataset, subset, labels))
            written.append(released / name)

    return {"videos": str(videos), "released": str(released), "present": present,
            "nobody_has": nobody, "broken": broken_id, "files": [str(p) for p in written],
            "lists": [p.name for p in written if p.suffix == ".json"],
            "train": spec["train"], "eval": spec["eval"], "weights": spec["weights"],
            "labels": spec["labels"]}
