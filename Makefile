# avprep: every target strings avprep CLI calls together; `make demo` and `make test` do all set-up.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.avprep-installed
WORKERS ?= 2
AVPREP := $(BIN)/avprep

.PHONY: install test demo bench prepare-audioset prepare-vggsound

## install: create .venv and install avprep with its test and ray extras (once; a stamp skips it)
install: $(STAMP)
$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,ray]'
	touch $(STAMP)

## test: the whole test suite
test: install
	$(BIN)/python -m pytest -q

# ---------------------------------------------------------------------------------------------
# Preparation: released lists + downloaded videos -> OUT/audio, OUT/frames, OUT/lists, OUT/report
#   make prepare-audioset VIDEOS=<folder of downloads> OUT=<folder> [LISTS=<released files>]
#        [WORKERS=n] [KEEP_RELEASED_WEIGHTS=1]
# Relative paths are relative to this folder (make runs here, also with make -C). Without LISTS
# the released files are fetched into the released/ part of avprep's cache folder
# (`avprep cache --path`: $AVPREP_CACHE, else $XDG_CACHE_HOME/avprep, else ~/.cache/avprep).
# Exit 0 when the run finished,
# even if some clips failed (they are in OUT/report); non-zero for unusable input or a step that
# could not run. Re-running after adding videos extracts only the new ones.
AUDIOSET_LABELS := class_labels_indices.csv
AUDIOSET_SPLITS := audioset_2m_cleaned audioset_20k_cleaned audioset_eval_cleaned \
	audioset_eval_5_per_class_for_retrieval_cleaned
AUDIOSET_TRAIN := audioset_2m_cleaned
VGGSOUND_LABELS := class_labels_indices_vgg.csv
VGGSOUND_SPLITS := vgg_train_cleaned vgg_test_cleaned vgg_test_5_per_class_for_retrieval_cleaned
VGGSOUND_TRAIN := vgg_train_cleaned

# $(call prepare_steps,<id scheme>,<fetch group>,<label CSV>,<splits>,<train split>)
define prepare_steps
set -euo pipefail; \
if [ -z "$(VIDEOS)" ] || [ -z "$(OUT)" ]; then \
  echo "usage: make prepare-$(1) VIDEOS=<folder of downloads> OUT=<folder> [LISTS=<released files>] [WORKERS=n]" >&2; \
  exit 2; fi; \
lists="$(LISTS)"; \
if [ -z "$$lists" ]; then \
  lists="$$($(AVPREP) cache --path)/released/$(2)"; \
  echo "== fetching the released $(1) files into $$lists"; \
  $(AVPREP) fetch $(2) --dest "$$lists"; fi; \
splits=""; \
for split in $(4); do if [ -f "$$lists/$$split.json" ]; then splits="$$splits $$split"; fi; done; \
if [ -z "$$splits" ]; then echo "make prepare-$(1): no released $(1) list in $$lists (expected one of: $(foreach s,$(4),$(s).json))" >&2; exit 2; fi; \
if [ ! -f "$$lists/$(3)" ]; then echo "make prepare-$(1): $$lists/$(3): label CSV not found" >&2; exit 2; fi; \
mkdir -p "$(OUT)/lists" "$(OUT)/report"; \
echo "== extracting $(VIDEOS) into $(OUT)/audio and $(OUT)/frames"; \
rc=0; $(AVPREP) extract "$(VIDEOS)" --audio-dir "$(OUT)/audio" --frame-dir "$(OUT)/frames" \
  --workers "$(WORKERS)" --ids $(1) --log "$(OUT)/report/extract_log.jsonl" || rc=$$?; \
if [ $$rc -gt 1 ]; then echo "make prepare-$(1): extraction could not run (exit $$rc)" >&2; exit $$rc; fi; \
for split in $$splits; do \
  released="$$lists/$$split.json"; extra=(); \
  if [ "$$split" = "$(5)" ]; then \
    extra+=(--weights-out "$(OUT)/lists/$${split}_weight.csv"); \
    if [ -f "$$lists/$${split}_weight.csv" ]; then extra+=(--weights "$$lists/$${split}_weight.csv"); fi; \
    if [ -n "$(KEEP_RELEASED_WEIGHTS)" ]; then extra+=(--keep-released-weights); fi; \
  fi; \
  done_mark="$(OUT)/report/$${split}_build.json"; rm -f "$$done_mark"; \
  rc=0; $(AVPREP) build-list --released "$$released" --labels "$$lists/$(3)" \
    --audio-dir "$(OUT)/audio" --frame-dir "$(OUT)/frames" -o "$(OUT)/lists/$$split.json" \
    --report "$(OUT)/report" "$${extra[@]}" || rc=$$?; \
  if [ $$rc -gt 1 ] || { [ $$rc = 1 ] && [ ! -f "$$done_mark" ]; }; then \
    echo "make prepare-$(1): build-list failed for $$split (exit $$rc)" >&2; exit 2; fi; \
done; \
$(AVPREP) prepare-report "$(OUT)/report" --log "$(OUT)/report/extract_log.jsonl" \
  --lists "$(OUT)/lists" --audio-dir "$(OUT)/audio" --frame-dir "$(OUT)/frames" \
  --title "prepare-$(1): done"
endef

## prepare-audioset: AudioSet downloads + released lists -> media, local lists, weights, report
prepare-audioset: install
	@$(call prepare_steps,audioset,audioset-lists,$(AUDIOSET_LABELS),$(AUDIOSET_SPLITS),$(AUDIOSET_TRAIN))

## prepare-vggsound: the same for VGGSound (ids <ytid>_<start, 6 digits>)
prepare-vggsound: install
	@$(call prepare_steps,vggsound,vggsound-lists,$(VGGSOUND_LABELS),$(VGGSOUND_SPLITS),$(VGGSOUND_TRAIN))

# ---------------------------------------------------------------------------------------------
## demo: offline tour: sample clips -> prepare-audioset -> a batch through the Dataset with the
##       balanced sampler -> a tiny CAV-MAE pretrained and fine-tuned for one epoch each on CPU
DEMO_OUT ?= demo-out
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
	$(AVPREP) inspect-batch "$$lists/$(AUDIOSET_TRAIN).json" --label-csv "$$labels" \
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
	$(BIN)/python scripts/bench_loader.py
	$(BIN)/python scripts/bench_train.py
