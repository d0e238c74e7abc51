"""Training and evaluation settings as plain values, under the original run scripts' names.

``PretrainConfig`` and ``FinetuneConfig`` hold every option of the original
``run_cavmae_pretrain.py`` and ``run_cavmae_ft.py`` with the same names (dashes become
underscores) and the same argparse defaults, plus a few avprep additions (``model_size``, ``seed``,
``resume``, ``amp``). ``EvalConfig`` is what ``avprep eval`` needs. ``add_options`` puts the
options on an argparse parser with the original flag spellings (five of them, ``--label-csv``,
``-b``, ``-w``/``--num-workers``, ``--weight_file`` and ``--target_length``, shown under the
spelling every avprep command uses: ``--labels``, ``--batch-size``, ``--workers``, ``--weights``,
``--target-length``); ``from_args`` builds a config back.

Where the original's default is None and its loader then has no usable value (``dataset_mean``,
``dataset_std``, ``target_length``), the published value is used: -5.081, 4.4849, 1024. One
deliberate difference: ``save_model`` defaults to True (the original's None saved no per-epoch
checkpoints, although its weight averaging reads them).
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Type, TypeVar, Union

from avprep.constants import (FT_MODES, MASK_MODES, MODEL_SIZES, NORM_MEAN, NORM_STD,
                              TARGET_LENGTH)
from avprep.errors import InputError

DATASETS = ["audioset", "esc50", "speechcommands", "fsd50k", "vggsound", "epic", "k400", "msrvtt"]


def parse_bool(text: Union[str, bool, None]) -> Optional[bool]:
    """``True``/``False`` (also ``true``, ``1``, ``yes``...) or ``None``, as the original's
    ``ast.literal_eval`` options take them."""
    if text is None or isinstance(text, bool):
        return text
    value = str(text).strip().lower()
    if value in ("true", "1", "yes", "on"):
        return True
    if value in ("false", "0", "no", "off"):
        return False
    if value == "none":
        return None
    raise argparse.ArgumentTypeError(f"expected True or False, got {text!r}")


def optional_path(text: Optional[str]) -> Optional[str]:
    """None for an absent path: the original scripts pass the string 'None' or ''."""
    if text is None or str(text).strip() in ("", "None", "none"):
        return None
    return str(text)


@dataclass
class CommonConfig:
    """Options both training commands share (names and defaults of the original run scripts)."""

    data_train: str = ""
    data_val: str = ""
    data_eval: Optional[str] = None
    label_csv: str = ""
    n_class: int = 527
    model: Optional[str] = None
    model_size: str = "base"
    dataset: str = "audioset"
    dataset_mean: Optional[float] = None
    dataset_std: Optional[float] = None
    target_length: Optional[int] = None
    noise: Optional[bool] = None
    exp_dir: str = ""
    lr: float = 0.001
    optim: str = "adam"
    batch_size: int = 12
    num_workers: int = 32
    n_epochs: int = 1
    lr_patience: int = 2
    lr_adapt: Optional[bool] = None
    metrics: str = "mAP"
    warmup: Optional[bool] = True
    lrscheduler_start: int = 10
    lrscheduler_step: int = 5
    lrscheduler_decay: float = 0.5
    n_print_steps: int = 100
    save_model: Optional[bool] = True
    mixup: float = 0.0
    bal: Optional[str] = None
    weight_file: Optional[str] = None
    pretrain_path: Optional[str] = "None"
    seed: int = 0
    resume: bool = False
    amp: Optional[bool] = None
    device: Optional[str] = None

    @property
    def mean(self) -> float:
        """Normalization mean of the fbank (the published value unless set)."""
        return NORM_MEAN if self.dataset_mean is None else self.dataset_mean

    @property
    def std(self) -> float:
        """Normalization std of the fbank (the published value unless set)."""
        return NORM_STD if self.dataset_std is None else self.dataset_std

    @property
    def audio_length(self) -> int:
        """Frames of fbank per clip (``target_length``, 1024 unless set)."""
        return TARGET_LENGTH if self.target_length is None else self.target_length

    @property
    def init_path(self) -> Optional[str]:
        """``pretrain_path`` with the original's 'None' read as no path."""
        return optional_path(self.pretrain_path)

    @property
    def balanced(self) -> bool:
        """Whether balanced sampling is on (the original's ``--bal bal``)."""
        return self.bal == "bal"

    def to_dict(self) -> Dict[str, Any]:
        """Every setting as a JSON-ready dict."""
        return dataclasses.asdict(self)


@dataclass
class PretrainConfig(CommonConfig):
    """Every option of the original pretraining script, plus avprep's additions."""

    cont_model: Optional[str] = None
    norm_pix_loss: Optional[bool] = None
    contrast_loss_weight: float = 0.01
    mae_loss_weight: float = 3.0
    tr_pos: Optional[bool] = None
    masking_ratio: float = 0.75
    mask_mode: str = "unstructured"
    contrast_groups: Optional[int] = None


@dataclass
class FinetuneConfig(CommonConfig):
    """Every option of the original fine-tuning script, plus avprep's additions."""

    batch_size: int = 48
    n_epochs: int = 10
    lr_patience: int = 1
    loss: str = "BCE"
    lrscheduler_start: int = 2
    lrscheduler_step: int = 1
    freqm: int = 0
    timem: int = 0
    wa: Optional[bool] = None
    wa_start: int = 1
    wa_end: int = 10
    label_smooth: float = 0.1
    ftmode: str = "multimodal"
    head_lr: float = 50.0
    freeze_base: Optional[bool] = None
    skip_frame_agg: Optional[bool] = None
    ft_reinit_head: Optional[bool] = False
    allow_partial: bool = False


@dataclass
class EvalConfig:
    """What ``avprep eval`` needs: a list, its labels, a fine-tuned checkpoint and how to run it."""

    data_eval: str = ""
    label_csv: str = ""
    n_class: int = 527
    model: str = ""
    model_size: str = "base"
    ftmode: str = "multimodal"
    dataset: str = "audioset"
    dataset_mean: Optional[float] = None
    dataset_std: Optional[float] = None
    target_length: Optional[int] = None
    batch_size: int = 48
    num_workers: int = 32
    skip_frame_agg: Optional[bool] = None
    json: Optional[str] = None
    released: Optional[str] = None
    amp: Optional[bool] = None
    device: Optional[str] = None

    mean = CommonConfig.mean
    std = CommonConfig.std
    audio_length = CommonConfig.audio_length

    def to_dict(self) -> Dict[str, Any]:
        """Every setting as a JSON-ready dict."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Option:
    """One command-line option: its flags, the config field and the help text."""

    flags: List[str]
    name: str
    help: str
    type: Any = None
    choices: Optional[List[str]] = None
    metavar: Optional[str] = None
    nargs: Optional[str] = None
    const: Any = None


def _options() -> Dict[str, Option]:
    b = parse_bool
    opts = [
        Option(["--data-train"], "data_train", "training data list (JSON)"),
        Option(["--data-val"], "data_val", "validation data list (JSON), evaluated every epoch"),
        Option(["--data-eval"], "data_eval",
               "evaluation data list (JSON) for the final evaluation (default: --data-val)"),
        Option(["--labels"], "label_csv", "label CSV (index,mid,display_name)"),
        Option(["--n_class"], "n_class", "number of classes", int),
        Option(["--model"], "model",
               "model kind: cav-mae (pretraining) or cav-mae-ft (fine-tuning); optional"),
        Option(["--model-size"], "model_size", "model size: tiny (tests, demos) or base (ViT-B)",
               choices=MODEL_SIZES),
        Option(["--dataset"], "dataset", "the dataset used", choices=DATASETS),
        Option(["--dataset_mean"], "dataset_mean",
               f"fbank normalization mean (None: {NORM_MEAN})", float),
        Option(["--dataset_std"], "dataset_std",
               f"fbank normalization std (None: {NORM_STD})", float),
        Option(["--target-length"], "target_length",
               f"fbank frames per clip (None: {TARGET_LENGTH})", int),
        Option(["--noise"], "noise", "add noise and a time roll to the training fbank", b,
               metavar="BOOL"),
        Option(["--exp-dir"], "exp_dir", "experiment folder for models, metrics and logs"),
        Option(["--lr", "--learning-rate"], "lr", "initial learning rate", float, metavar="LR"),
        Option(["--optim"], "optim",
               "optimizer; accepted for compatibility: the original trains with Adam either way",
               choices=["adam", "sgd"]),
        Option(["--batch-size"], "batch_size", "mini-batch size (per process)", int,
               metavar="N"),
        Option(["--workers"], "num_workers", "data-loading workers per process", int,
               metavar="NW"),
        Option(["--n-epochs"], "n_epochs", "number of training epochs", int),
        Option(["--lr_patience"], "lr_patience",
               "epochs without improvement before --lr_adapt halves the lr", int),
        Option(["--lr_adapt"], "lr_adapt",
               "reduce the lr on a plateau instead of the step schedule", b, metavar="BOOL"),
        Option(["--metrics"], "metrics", "main validation metric (picks the best epoch)",
               choices=["mAP", "acc"]),
        Option(["--warmup"], "warmup",
               "accepted for compatibility; the original loops apply no warm-up, nor does this",
               b, metavar="BOOL"),
        Option(["--lrscheduler_start"], "lrscheduler_start",
               "first epoch at which the lr is multiplied by --lrscheduler_decay", int),
        Option(["--lrscheduler_step"], "lrscheduler_step",
               "epochs between lr decays after --lrscheduler_start", int),
        Option(["--lrscheduler_decay"], "lrscheduler_decay", "lr decay factor", float),
        Option(["--n-print-steps"], "n_print_steps", "log the running loss every N steps", int),
        Option(["--save_model"], "save_model",
               "write models/audio_model.<epoch>.pth after every epoch", b, metavar="BOOL"),
        Option(["--mixup"], "mixup", "probability (0-1) that a training sample is mixed up",
               float),
        Option(["--bal"], "bal", "'bal' turns on balanced sampling by the sample-weight CSV"),
        Option(["--weights"], "weight_file",
               "sample-weight CSV: a path, or a suffix S naming <data-train minus .json>_S.csv "
               "(None: <data-train minus .json>_weight.csv)"),
        Option(["--pretrain_path"], "pretrain_path",
               "checkpoint to initialize from (a file or a model-zoo name; 'None': none)"),
        Option(["--seed"], "seed", "random seed (sampling, masking, augmentation)", int),
        Option(["--resume"], "resume",
               "continue the run in --exp-dir from its last completed epoch", b,
               metavar="BOOL", nargs="?", const=True),
        Option(["--amp"], "amp", "mixed precision (None: on with CUDA, off on CPU)", b,
               metavar="BOOL"),
        Option(["--device"], "device", "cpu, cuda or cuda:N (None: the GPU of this process "
               "when there is one, else the CPU)"),
        # pretraining only
        Option(["--cont_model"], "cont_model", "accepted for compatibility (unused, as in the "
               "original); use --resume to continue a run"),
        Option(["--norm_pix_loss"], "norm_pix_loss", "per-patch normalized MAE targets", b,
               metavar="BOOL"),
        Option(["--contrast_loss_weight"], "contrast_loss_weight",
               "weight of the contrastive loss (lambda_c)", float),
        Option(["--mae_loss_weight"], "mae_loss_weight", "weight of the MAE loss", float),
        Option(["--tr_pos"], "tr_pos", "trainable positional embeddings", b, metavar="BOOL"),
        Option(["--masking_ratio"], "masking_ratio", "masking ratio of both modalities", float),
        Option(["--mask_mode"], "mask_mode", "audio masking",
               choices=MASK_MODES),
        Option(["--contrast-groups"], "contrast_groups",
               "the original's nn.DataParallel semantics: each process's batch is split into G "
               "groups, each computes the MAE and contrastive losses over its own samples as one "
               "GPU replica did, and the losses are summed over the groups of every process "
               "(None: the losses of each process's whole batch, averaged over processes)", int,
               metavar="G"),
        # fine-tuning only
        Option(["--loss"], "loss", "loss function", choices=["BCE", "CE"]),
        Option(["--freqm"], "freqm", "SpecAugment frequency mask max length", int),
        Option(["--timem"], "timem", "SpecAugment time mask max length", int),
        Option(["--wa"], "wa", "average the weights of epochs --wa_start..--wa_end for the "
               "final model", b, metavar="BOOL"),
        Option(["--wa_start"], "wa_start", "first epoch of weight averaging", int),
        Option(["--wa_end"], "wa_end", "last epoch of weight averaging (clamped to the epochs "
               "run)", int),
        Option(["--label_smooth"], "label_smooth", "label smoothing factor", float),
        Option(["--ftmode"], "ftmode", "which inputs the model sees", choices=FT_MODES),
        Option(["--head_lr"], "head_lr", "lr ratio of the new head to the pretrained weights",
               float),
        Option(["--freeze_base"], "freeze_base", "train the head only (linear probing)", b,
               metavar="BOOL"),
        Option(["--skip_frame_agg"], "skip_frame_agg", "evaluate on the middle frame only "
               "instead of averaging predictions over the 10 frames", b, metavar="BOOL"),
        Option(["--ft-reinit-head"], "ft_reinit_head", "when --pretrain_path is a fine-tuned "
               "checkpoint whose head has another class count than --n_class, start a new head "
               "(init.json lists the keys replaced); without it that is an error", b,
               metavar="BOOL", nargs="?", const=True),
        Option(["--allow-partial"], "allow_partial",
               "initialize from a checkpoint that lacks some encoder weights (the original's "
               "strict=False): load what fits, leave the rest as initialized, and print and "
               "record (init.json) what was not loaded; off: every weight but the new head must "
               "come from --pretrain_path", b, metavar="BOOL", nargs="?", const=True),
        # evaluation only
        Option(["--json"], "json", "write the metrics to this JSON file"),
        Option(["--released"], "released", "the released list (JSON, pack or ids one a line) "
               "to report coverage of: how many of its ids were scored; the ids scored go "
               "beside --json as <name>.scored_ids.txt", metavar="LIST"),
    ]
    return {o.name: o for o in opts}


OPTIONS = _options()

C = TypeVar("C", CommonConfig, EvalConfig)


def add_options(parser: argparse.ArgumentParser, config_class: Type[C],
                overrides: Optional[Dict[str, str]] = None) -> None:
    """Add an option for every field of ``config_class`` with the field's default.

    ``overrides`` replaces help texts by field name (``avprep eval`` reads ``--model`` as a path).
    Each option also takes its other spellings (:func:`avprep.cli.add_option`), named in its help.
    """
    from avprep.cli import add_option

    overrides = overrides or {}
    defaults = config_class()
    for f in dataclasses.fields(config_class):
        opt = OPTIONS[f.name]
        text = overrides.get(f.name, opt.help) + " (default: %(default)s)"
        kwargs: Dict[str, Any] = {"dest": f.name, "default": getattr(defaults, f.name),
                                  "help": text}
        if opt.type is not None:
            kwargs["type"] = opt.type
        for key in ("choices", "metavar", "nargs", "const"):
            if getattr(opt, key) is not None:
                kwargs[key] = getattr(opt, key)
        add_option(parser, *opt.flags, mention=True, **kwargs)


def from_args(args: argparse.Namespace, config_class: Type[C]) -> C:
    """Build a ``config_class`` from parsed arguments (fields missing there keep their default)."""
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(config_class)
              if hasattr(args, f.name)}
    return config_class(**values)


def check(cfg: Union[CommonConfig, EvalConfig]) -> None:
    """Reject settings that cannot run, before any work starts."""
    if cfg.model_size not in MODEL_SIZES:
        raise InputError(f"--model-size must be one of {list(MODEL_SIZES)}, got {cfg.model_size!r}")
    if cfg.batch_size < 1:
        raise InputError(f"--batch-size must be at least 1, got {cfg.batch_size}")
    if cfg.num_workers < 0:
        raise InputError(f"--workers must not be negative, got {cfg.num_workers}")
    if isinstance(cfg, EvalConfig):
        for flag, value in (("--data-eval", cfg.data_eval), ("--labels", cfg.label_csv),
                            ("--model", cfg.model)):
            if not value:
                raise InputError(f"{flag} is required")
        if cfg.ftmode not in FT_MODES:
            raise InputError(f"--ftmode must be one of {list(FT_MODES)}, got {cfg.ftmode!r}")
        return
    for flag, value in (("--data-train", cfg.data_train), ("--data-val", cfg.data_val),
                        ("--labels", cfg.label_csv), ("--exp-dir", cfg.exp_dir)):
        if not value:
            raise InputError(f"{flag} is required")
    if cfg.n_epochs < 1:
        raise InputError(f"--n-epochs must be at least 1, got {cfg.n_epochs}")
    if cfg.lrscheduler_step < 1:
        raise InputError(f"--lrscheduler_step must be at least 1, got {cfg.lrscheduler_step}")
    if isinstance(cfg, PretrainConfig):
        if cfg.model not in (None, "cav-mae"):
            raise InputError(f"--model {cfg.model!r} is not supported for pretraining "
                             "(use cav-mae or leave it out)")
        if not 0 <= cfg.masking_ratio < 1:
            raise InputError(f"--masking_ratio must be in [0, 1), got {cfg.masking_ratio}")
        if cfg.contrast_groups is not None:
            if cfg.contrast_groups < 1:
                raise InputError(f"--contrast-groups must be at least 1, got "
                                 f"{cfg.contrast_groups}")
            if cfg.batch_size % cfg.contrast_groups:
                raise InputError(f"--contrast-groups {cfg.contrast_groups} must divide the batch "
                                 f"size per process (-b {cfg.batch_size})")
    if isinstance(cfg, FinetuneConfig):
        if cfg.model not in (None, "cav-mae-ft"):
            raise InputError(f"--model {cfg.model!r} is not supported for fine-tuning "
                             "(use cav-mae-ft or leave it out)")
        if cfg.ftmode not in FT_MODES:
            raise InputError(f"--ftmode must be one of {list(FT_MODES)}, got {cfg.ftmode!r}")
        if cfg.wa and not cfg.save_model:
            raise InputError("--wa True averages the per-epoch checkpoints: it needs "
                             "--save_model True")
