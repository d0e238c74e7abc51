"""What several test files share: where the fixtures are, and the modules below.

- :mod:`helpers.media`: wavs, frames and clips written for a test (and the fixture entries)
- :mod:`helpers.lists`: a released-format list with partial media (the ``released`` fixture)
- :mod:`helpers.train`: tiny training runs, checkpoints, torchrun, the egs/ fine-tuning call
- :mod:`helpers.serve`: a static HTTP server on 127.0.0.1; :mod:`helpers.media_server` one that
  answers Range requests, errors, slow and cut transfers
- :mod:`helpers.tools`: the hardening tests' snapshots, temporaries and tiny clips
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT.parent / "shared" / "fixtures" / "cavmae-samples"
REF = SAMPLES / "ref"
CLIPS = {
    "00W1lcxW-WU_40.000": SAMPLES / "00W1lcxW-WU_40.000.mp4",
    "KlsG1EnBEjc_000361": SAMPLES / "KlsG1EnBEjc_000361.mp4",
    "Vp9OpusClip_20.000": SAMPLES / "Vp9OpusClip_20.000.webm",
}
#: the real AudioSet label CSV of the fixtures
LABEL_CSV = SAMPLES / "class_labels_indices_as.csv"
#: what `make install` leaves; tests never (re)install: `make test` has done it
STAMP = ".venv/.avprep-installed"
