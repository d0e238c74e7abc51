"""The Dataset reading a pack made with ``avprep pack --fbank``: the same numbers as the JSON list,
from the stored fbank when the sample is not mixed, from the stored PCM when it is."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from torch.utils.data import DataLoader

from avprep.data import AudiosetDataset, AVConfig, AVDataset
from avprep.store import pack
from helpers import REF, ROOT, SAMPLES

LABEL_CSV = str(SAMPLES / "class_labels_indices_as.csv")
TRAIN = {"mode": "train", "mixup": 0.5, "freqm": 48, "timem": 192, "noise": True,
         "label_smooth": 0.1, "seed": 21}


@pytest.fixture(scope="module")
def packed(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pack")
    clips = json.loads((REF / "clips.json").read_text())
    entries = [{"video_id": c["video_id"], "wav": str(REF / "audio" / f"{c['video_id']}.wav"),
                "video_path": str(REF / "frames"), "labels": c["labels"]} for c in clips]
    list_path = folder / "list.json"
    list_path.write_text(json.dumps({"data": entries}))
    env = dict(os.environ, AVPREP_PROGRESS="0")
    done = subprocess.run([sys.executable, "-m", "avprep", "pack", str(list_path), "-o",
                           str(folder / "p32"), "--fbank"], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    pack(list_path, folder / "p16", fbank="float16")
    return list_path, folder / "p32", folder / "p16"


def _same(a, b):
    return all(torch.equal(x, y) for x, y in zip(a, b))


def test_pack_eval_equals_list(packed):
    list_path, p32, _ = packed
    from_list = AudiosetDataset(str(list_path), {"mode": "eval"}, LABEL_CSV)
    from_pack = AudiosetDataset(str(p32), {"mode": "eval"}, LABEL_CSV)
    assert len(from_pack) == len(from_list) == 3
    for i in range(3):
        assert _same(from_list[i], from_pack[i])
    assert AVDataset(p32, LABEL_CSV, AVConfig(mode="eval"))[1].video_id == \
        AVDataset(list_path, LABEL_CSV, AVConfig(mode="eval"))[1].video_id


def test_pack_train_equals_list(packed):
    list_path, p32, _ = packed
    from_list = AudiosetDataset(str(list_path), TRAIN, LABEL_CSV)
    from_pack = AudiosetDataset(str(p32), TRAIN, LABEL_CSV)
    for epoch in (0, 1):
        from_list.set_epoch(epoch)
        from_pack.set_epoch(epoch)
        for i in range(3):
            assert _same(from_list[i], from_pack[i])


def test_stored_fbank_used_unless_mixed(packed):
    """A float16 pack rounds the stored fbank: unmixed samples show the rounding, mixed ones are
    computed from the exact PCM and equal the list's."""
    list_path, _, p16 = packed
    conf = {"mode": "eval", "mixup": 0.5, "seed": 1}
    from_list = AVDataset(list_path, LABEL_CSV, AVConfig.from_audio_conf(conf))
    from_pack = AVDataset(p16, LABEL_CSV, AVConfig.from_audio_conf(conf))
    seen = set()
    for epoch in range(8):
        from_list.set_epoch(epoch)
        from_pack.set_epoch(epoch)
        for i in range(3):
            mixed = from_list.builder.plan(i, epoch).mix_index is not None
            diff = (from_list[i].fbank - from_pack[i].fbank).abs().max()
            if mixed:
                assert diff == 0
            else:
                assert 0 < diff < 5e-3  # float16 keeps ~3 significant digits of log-mel
            seen.add(mixed)
        if seen == {True, False}:
            break
    assert seen == {True, False}
    # use_stored_fbank=False recomputes from the PCM: equal to the list again
    recompute = AVDataset(p16, LABEL_CSV, AVConfig(mode="eval", use_stored_fbank=False))
    assert torch.equal(recompute[0].fbank, AVDataset(list_path, LABEL_CSV,
                                                     AVConfig(mode="eval"))[0].fbank)


def test_pack_in_dataloader_workers(packed):
    list_path, p32, _ = packed
    ds = AudiosetDataset(str(p32), {"mode": "eval"}, LABEL_CSV)
    ds[0]  # opened here; each worker opens its own maps
    batch = next(iter(DataLoader(ds, batch_size=3, num_workers=2)))
    from_list = AudiosetDataset(str(list_path), {"mode": "eval"}, LABEL_CSV)
    assert torch.equal(batch[0], torch.stack([from_list[i][0] for i in range(3)]))
    assert torch.equal(batch[1], torch.stack([from_list[i][1] for i in range(3)]))
