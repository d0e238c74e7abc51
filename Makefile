# avprep: every target strings avprep CLI calls together; `make demo` and `make test` do all set-up.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.avprep-installed
WORKERS ?= 2
AVPREP := $(BIN)/avprep

.PHONY: install test demo bench prepare-audioset prepare-vggsound

## install: create .venv and install avprep with its test, ray and download extras (once; a stamp skips it)
install: $(STAMP)
$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,ray,download]'
	touch $(STAMP)

## test: the whole test suite
test: install
	$(BIN)/python -m pytest -q

# ---------------------------------------------------------------------------------------------
# Preparation: released lists + downloaded videos -> OUT/audio, OUT/frames, OUT/lists, OUT/report
#   make prepare-audioset VIDEOS=<folder of downloads> OUT=<folder> [LISTS=<released files>]
#        [WORKERS=n] [KEEP_RELEASED_WEIGHTS=1]
#   make prepare-audioset OUT=<folder> DOWNLOAD=1 [SPLITS="audioset_eval_cleaned ..."]
#        [VIDEOS=<folder to download into, default OUT/videos>] [DOWNLOAD_ARGS="--max-per-hour 200"]
# DOWNLOAD=1 first downloads the clips of SPLITS (default: every released split) with
# `avprep download` (paced, resumable; DOWNLOAD_ARGS holds its options, e.g. --cookies FILE,
# --proxy URL, --download-workers N), then accounts in OUT/report for every released id that is
# missing (unavailable, pending, never attempted, failed extraction); exit 1 when some clips are
# still pending (run it again later).
# Each target is one `avprep prepare <dataset>` run (see `avprep prepare --help`); the dataset's
# splits, label CSV and training split come from manifests/<dataset>.toml. Relative paths are
# relative to this folder (make runs here, also with make -C). Without LISTS the released files
# are fetched into released/<dataset>-lists of avprep's cache folder (`avprep cache --path`). Exit 0 when
# the run finished, even if some clips failed (they are in OUT/report); non-zero for unusable
# input. Re-running after adding videos extracts only the new ones.

# $(call prepare,<dataset>): the usage check, then avprep prepare with this Makefile's variables
prepare = if { [ -z "$(VIDEOS)" ] && [ -z "$(DOWNLOAD)" ]; } || [ -z "$(OUT)" ]; then \
  echo "usage: make prepare-$(1) VIDEOS=<folder of downloads> OUT=<folder> [LISTS=<released files>] [WORKERS=n]" >&2; \
  echo "   or: make prepare-$(1) OUT=<folder> DOWNLOAD=1 [SPLITS=<released list names>] [DOWNLOAD_ARGS=<avprep download options>]" >&2; \
  exit 2; fi; \
  $(AVPREP) prepare $(1) $(if $(VIDEOS),--videos "$(VIDEOS)") --out "$(OUT)" --workers "$(WORKERS)" \
  $(if $(LISTS),--lists "$(LISTS)") \
  $(if $(KEEP_RELEASED_WEIGHTS),--keep-released-weights) \
  $(if $(DOWNLOAD),--download $(if $(SPLITS),--splits $(SPLITS)) $(DOWNLOAD_ARGS))

## prepare-audioset: AudioSet downloads + released lists -> media, local lists, weights, report
prepare-audioset: install
	@$(call prepare,audioset)

## prepare-vggsound: the same for VGGSound (ids <ytid>_<start, 6 digits>)
prepare-vggsound: install
	@$(call prepare,vggsound)

# ---------------------------------------------------------------------------------------------
## demo: offline tour: sample clips -> prepare-audioset -> a batch through the Dataset with the
##       balanced sampler -> a tiny CAV-MAE pretrained and fine-tuned for one epoch each on CPU
DEMO_OUT ?= demo-out
# the sample files' names, as released
AUDIOSET_LABELS := class_labels_indices.csv
AUDIOSET_TRAIN := audioset_2m_cleaned
DEMO_TRAIN_ARGS := --model-size tiny --n-epochs 1 -b 2 -w 0 --lr 1e-4 --seed 0

demo: install
	@set -euo pipefail; \
	if [ -z "$(DEMO_OUT)" ]; then echo "make demo: DEMO_OUT must name a folder" >&2; exit 2; fi; \
	samples="$(DEMO_OUT)/samples"; out="$(DEMO_OUT)/prepared"; exp="$(DEMO_OUT)/train"; \
	lists="$$out/lists"; labels="$$samples/released/$(AUDIOSET_LABELS)"; \
	echo "== 1/4 sample clips (packaged ffmpeg) and released-format lists, labels, weights"; \
	$(BIN)/python scripts/make_sample_clips.py "$$samples" --dataset audioset > /dev/null; \
	echo "   videos: $$(ls "$$samples/videos" | tr '\n' ' ')"; \
	echo "   released files: $$(ls "$$samples/released" | tr '\n' ' ')"; \
	echo "== 2/4 make prepare-audioset (fetch skipped: LISTS given)"; \
	$(MAKE) --no-print-directory -o $(STAMP) prepare-audioset VIDEOS="$$samples/videos" \
	  OUT="$$out" LISTS="$$samples/released" WORKERS=$(WORKERS); \
	echo "== 3/4 one batch through the Dataset with the balanced sampler"; \
	$(AVPREP) inspect-batch "$$lists/$(AUDIOSET_TRAIN).json" --labels "$$labels" \
	  --weights "$$lists/$(AUDIOSET_TRAIN)_weight.csv" --noise; \
	echo "== 4/4 a tiny CAV-MAE on CPU: pretrain 1 epoch, then fine-tune 1 epoch (balanced sampling)"; \
	rm -rf "$$exp"; \
	$(AVPREP) train pretrain --data-train "$$lists/$(AUDIOSET_TRAIN).json" \
	  --data-val "$$lists/audioset_eval_cleaned.json" --label-csv "$$labels" \
	  --exp-dir "$$exp/pretrain" $(DEMO_TRAIN_ARGS); \
	$(AVPREP) train finetune --data-train "$$lists/$(AUDIOSET_TRAIN).json" \
	  --data-val "$$lists/audioset_eval_cleaned.json" --label-csv "$$labels" \
	  --n_class $$(($$(wc -l < "$$labels") - 1)) --exp-dir "$$exp/finetune" \
	  --pretrain_path "$$exp/pretrain/models/audio_model.1.pth" --bal bal \
	  --weight_file "$$lists/$(AUDIOSET_TRAIN)_weight.csv" $(DEMO_TRAIN_ARGS); \
	echo "== done. Outputs:"; \
	echo "   sample downloads:     $$samples/videos"; \
	echo "   released-format files: $$samples/released"; \
	echo "   extracted media:      $$out/audio, $$out/frames"; \
	echo "   local lists, weights: $$lists"; \
	echo "   report:               $$out/report (summary.txt, coverage CSV/PNG, extract_log.jsonl)"; \
	echo "   pretrained model:     $$exp/pretrain/models/audio_model.1.pth"; \
	echo "   fine-tuned model:     $$exp/finetune/models/audio_model.1.pth (metrics: $$exp/finetune/final_eval.json)"

# ---------------------------------------------------------------------------------------------
## bench: every benchmark, each against its straightforward baseline in the same run
BENCH_OUT ?= .bench
bench: install
	@mkdir -p $(BENCH_OUT)
	$(BIN)/python scripts/bench_lists.py
	$(BIN)/python scripts/bench_extract.py
	$(BIN)/python scripts/bench_extract_engines.py
	$(BIN)/python scripts/bench_fbank.py
	$(BIN)/python scripts/bench_store.py
	$(BIN)/python scripts/bench_scan.py
	$(BIN)/python scripts/bench_loader.py
	$(BIN)/python scripts/bench_eval_frames.py
	$(BIN)/python scripts/bench_train.py
	$(BIN)/python scripts/bench_download.py
