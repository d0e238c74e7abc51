"""Training and evaluation settings as plain values, under the original run scripts' names.

``PretrainConfig`` and ``FinetuneConfig`` hold every option of the original
``run_cavmae_pretrain.py`` and ``run_cavmae_ft.py`` with the same names (dashes become
underscores) and the same argparse defaults, plus a few avprep additions (``model_size``, ``seed``,
``resume``, ``amp``). ``EvalConfig`` is what ``avprep eval`` needs. Each option is declared
once, as a field whose metadata holds its flags and help (:func:`option`); a config that takes the
same option again refers to that field (:func:`again`). ``add_options`` puts the options on an
argparse parser with the original flag spellings (five of them, ``--label-csv``,
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
from typing import Any, Dict, Optional, Sequence, Tuple, Type, TypeVar, Union

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


@dataclass(frozen=True)
class Option:
    """How one config field appears on the command line: its flags (the first is the one
    ``--help`` shows), the help text, and argparse's type, choices, metavar, nargs and const."""

    flags: Tuple[str, ...]
    help: str
    type: Any = None
    choices: Optional[Sequence[str]] = None
    metavar: Optional[str] = None
    nargs: Optional[str] = None
    const: Any = None


def option(default: Any, *flags: str, help: str, type: Any = None,  # noqa: A002
           choices: Optional[Sequence[str]] = None, metavar: Optional[str] = None,
           nargs: Optional[str] = None, const: Any = None) -> Any:
    """A config field with its default and its command-line :class:`Option` (in the field's
    metadata, read by :func:`add_options`)."""
    spec = Option(tuple(flags), help, type, choices, metavar, nargs, const)
    return dataclasses.field(default=default, metadata={"option": spec})


_SAME: Any = object()


def again(config_class: type, name: str, default: Any = _SAME) -> Any:
    """The field ``name`` of ``config_class`` for another config: the same option, with the same
    default or ``default``."""
    base = config_class.__dataclass_fields__[name]
    return dataclasses.field(default=base.default if default is _SAME else default,
                             metadata=base.metadata)


class AudioSettings:
    """What a config with ``dataset_mean``, ``dataset_std`` and ``target_length`` derives from
    them, and its settings as a dict."""

    dataset_mean: Optional[float]
    dataset_std: Optional[float]
    target_length: Optional[int]

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

    def to_dict(self) -> Dict[str, Any]:
        """Every setting as a JSON-ready dict."""
        return dataclasses.asdict(self)  # type: ignore[call-overload]


@dataclass
class CommonConfig(AudioSettings):
    """Options both training commands share (names and defaults of the original run scripts)."""

    data_train: str = option("", "--data-train", help="training data list (JSON)")
    data_val: str = option(
        "", "--data-val",
        help="validation data list (JSON), evaluated every epoch")
    data_eval: Optional[str] = option(
        None, "--data-eval",
        help="evaluation data list (JSON) for the final evaluation (default: --data-val)")
    label_csv: str = option("", "--labels", help="label CSV (index,mid,display_name)")
    n_class: int = option(527, "--n_class", type=int, help="number of classes")
    model: Optional[str] = option(
        None, "--model",
        help="model kind: cav-mae (pretraining) or cav-mae-ft (fine-tuning); optional")
    model_size: str = option(
        "base", "--model-size", choices=MODEL_SIZES,
        help="model size: tiny (tests, demos) or base (ViT-B)")
    dataset: str = option(
        "audioset", "--dataset", choices=DATASETS,
        help="the dataset used")
    dataset_mean: Optional[float] = option(
        None, "--dataset_mean", type=float,
        help=f"fbank normalization mean (None: {NORM_MEAN})")
    dataset_std: Optional[float] = option(
        None, "--dataset_std", type=float,
        help=f"fbank normalization std (None: {NORM_STD})")
    target_length: Optional[int] = option(
        None, "--target-length", type=int,
        help=f"fbank frames per clip (None: {TARGET_LENGTH})")
    noise: Optional[bool] = option(
        None, "--noise", type=parse_bool, metavar="BOOL",
        help="add noise and a time roll to the training fbank")
    exp_dir: str = option("", "--exp-dir", help="experiment folder for models, metrics and logs")
    lr: float = option(
        0.001, "--lr", "--learning-rate", type=float, metavar="LR",
        help="initial learning rate")
    optim: str = option(
        "adam", "--optim", choices=["adam", "sgd"],
        help="optimizer; accepted for compatibility: the original trains with Adam either "
             "way")
    batch_size: int = option(
        12, "--batch-size", type=int, metavar="N",
        help="mini-batch size (per process)")
    num_workers: int = option(
        32, "--workers", type=int, metavar="NW",
        help="data-loading workers per process")
    n_epochs: int = option(1, "--n-epochs", type=int, help="number of training epochs")
    lr_patience: int = option(
        2, "--lr_patience", type=int,
        help="epochs without improvement before --lr_adapt halves the lr")
    lr_adapt: Optional[bool] = option(
        None, "--lr_adapt", type=parse_bool, metavar="BOOL",
        help="reduce the lr on a plateau instead of the step schedule")
    metrics: str = option(
        "mAP", "--metrics", choices=["mAP", "acc"],
        help="main validation metric (picks the best epoch)")
    warmup: Optional[bool] = option(
        True, "--warmup", type=parse_bool, metavar="BOOL",
        help="accepted for compatibility; the original loops apply no warm-up, nor does this")
    lrscheduler_start: int = option(
        10, "--lrscheduler_start", type=int,
        help="first epoch at which the lr is multiplied by --lrscheduler_decay")
    lrscheduler_step: int = option(
        5, "--lrscheduler_step", type=int,
        help="epochs between lr decays after --lrscheduler_start")
    lrscheduler_decay: float = option(
        0.5, "--lrscheduler_decay", type=float,
        help="lr decay factor")
    n_print_steps: int = option(
        100, "--n-print-steps", type=int,
        help="log the running loss every N steps")
    save_model: Optional[bool] = option(
        True, "--save_model", type=parse_bool, metavar="BOOL",
        help="write models/audio_model.<epoch>.pth after every epoch")
    mixup: float = option(
        0.0, "--mixup", type=float,
        help="probability (0-1) that a training sample is mixed up")
    bal: Optional[str] = option(
        None, "--bal",
        help="'bal' turns on balanced sampling by the sample-weight CSV")
    weight_file: Optional[str] = option(
        None, "--weights",
        help="sample-weight CSV: a path, or a suffix S naming <data-train minus .json>_S.csv "
             "(None: <data-train minus .json>_weight.csv)")
    pretrain_path: Optional[str] = option(
        "None", "--pretrain_path",
        help="checkpoint to initialize from (a file or a model-zoo name; 'None': none)")
    seed: int = option(0, "--seed", type=int, help="random seed (sampling, masking, augmentation)")
    resume: bool = option(
        False, "--resume", type=parse_bool, metavar="BOOL", nargs="?", const=True,
        help="continue the run in --exp-dir from its last completed epoch")
    amp: Optional[bool] = option(
        None, "--amp", type=parse_bool, metavar="BOOL",
        help="mixed precision (None: on with CUDA, off on CPU)")
    device: Optional[str] = option(
        None, "--device",
        help="cpu, cuda or cuda:N (None: the GPU of this process when there is one, else the "
             "CPU)")

    @property
    def init_path(self) -> Optional[str]:
        """``pretrain_path`` with the original's 'None' read as no path."""
        return optional_path(self.pretrain_path)

    @property
    def balanced(self) -> bool:
        """Whether balanced sampling is on (the original's ``--bal bal``)."""
        return self.bal == "bal"


@dataclass
class PretrainConfig(CommonConfig):
    """Every option of the original pretraining script, plus avprep's additions."""

    cont_model: Optional[str] = option(
        None, "--cont_model",
        help="accepted for compatibility (unused, as in the original); use --resume to "
             "continue a run")
    norm_pix_loss: Optional[bool] = option(
        None, "--norm_pix_loss", type=parse_bool, metavar="BOOL",
        help="per-patch normalized MAE targets")
    contrast_loss_weight: float = option(
        0.01, "--contrast_loss_weight", type=float,
        help="weight of the contrastive loss (lambda_c)")
    mae_loss_weight: float = option(
        3.0, "--mae_loss_weight", type=float,
        help="weight of the MAE loss")
    tr_pos: Optional[bool] = option(
        None, "--tr_pos", type=parse_bool, metavar="BOOL",
        help="trainable positional embeddings")
    masking_ratio: float = option(
        0.75, "--masking_ratio", type=float,
        help="masking ratio of both modalities")
    mask_mode: str = option(
        "unstructured", "--mask_mode", choices=MASK_MODES,
        help="audio masking")
    contrast_groups: Optional[int] = option(
        None, "--contrast-groups", type=int, metavar="G",
        help="the original's nn.DataParallel semantics: each process's batch is split into G "
             "groups, each computes the MAE and contrastive losses over its own samples as "
             "one GPU replica did, and the losses are summed over the groups of every "
             "process (None: the losses of each process's whole batch, averaged over "
             "processes)")


@dataclass
class FinetuneConfig(CommonConfig):
    """Every option of the original fine-tuning script, plus avprep's additions."""

    batch_size: int = again(CommonConfig, "batch_size", 48)
    n_epochs: int = again(CommonConfig, "n_epochs", 10)
    lr_patience: int = again(CommonConfig, "lr_patience", 1)
    loss: str = option("BCE", "--loss", choices=["BCE", "CE"], help="loss function")
    lrscheduler_start: int = again(CommonConfig, "lrscheduler_start", 2)
    lrscheduler_step: int = again(CommonConfig, "lrscheduler_step", 1)
    freqm: int = option(0, "--freqm", type=int, help="SpecAugment frequency mask max length")
    timem: int = option(0, "--timem", type=int, help="SpecAugment time mask max length")
    wa: Optional[bool] = option(
        None, "--wa", type=parse_bool, metavar="BOOL",
        help="average the weights of epochs --wa_start..--wa_end for the final model")
    wa_start: int = option(1, "--wa_start", type=int, help="first epoch of weight averaging")
    wa_end: int = option(
        10, "--wa_end", type=int,
        help="last epoch of weight averaging (clamped to the epochs run)")
    label_smooth: float = option(0.1, "--label_smooth", type=float, help="label smoothing factor")
    ftmode: str = option(
        "multimodal", "--ftmode", choices=FT_MODES,
        help="which inputs the model sees")
    head_lr: float = option(
        50.0, "--head_lr", type=float,
        help="lr ratio of the new head to the pretrained weights")
    freeze_base: Optional[bool] = option(
        None, "--freeze_base", type=parse_bool, metavar="BOOL",
        help="train the head only (linear probing)")
    skip_frame_agg: Optional[bool] = option(
        None, "--skip_frame_agg", type=parse_bool, metavar="BOOL",
        help="evaluate on the middle frame only instead of averaging predictions over the 10 "
             "frames")
    ft_reinit_head: Optional[bool] = option(
        False, "--ft-reinit-head", type=parse_bool, metavar="BOOL", nargs="?", const=True,
        help="when --pretrain_path is a fine-tuned checkpoint whose head has another class "
             "count than --n_class, start a new head (init.json lists the keys replaced); "
             "without it that is an error")
    allow_partial: bool = option(
        False, "--allow-partial", type=parse_bool, metavar="BOOL", nargs="?", const=True,
        help="initialize from a checkpoint that lacks some encoder weights (the original's "
             "strict=False): load what fits, leave the rest as initialized, and print and "
             "record (init.json) what was not loaded; off: every weight but the new head "
             "must come from --pretrain_path")


@dataclass
class EvalConfig(AudioSettings):
    """What ``avprep eval`` needs: a list, its labels, a fine-tuned checkpoint and how to run it
    (the training commands' options of the same names)."""

    data_eval: str = again(CommonConfig, "data_eval", "")
    label_csv: str = again(CommonConfig, "label_csv")
    n_class: int = again(CommonConfig, "n_class")
    model: str = again(CommonConfig, "model", "")
    model_size: str = again(CommonConfig, "model_size")
    ftmode: str = again(FinetuneConfig, "ftmode")
    dataset: str = again(CommonConfig, "dataset")
    dataset_mean: Optional[float] = again(CommonConfig, "dataset_mean")
    dataset_std: Optional[float] = again(CommonConfig, "dataset_std")
    target_length: Optional[int] = again(CommonConfig, "target_length")
    batch_size: int = again(FinetuneConfig, "batch_size")
    num_workers: int = again(CommonConfig, "num_workers")
    skip_frame_agg: Optional[bool] = again(FinetuneConfig, "skip_frame_agg")
    json: Optional[str] = option(None, "--json", help="write the metrics to this JSON file")
    released: Optional[str] = option(
        None, "--released", metavar="LIST",
        help="the released list (JSON, pack or ids one a line) to report coverage of: how many "
             "of its ids were scored; the ids scored go beside --json as <name>.scored_ids.txt")
    amp: Optional[bool] = again(CommonConfig, "amp")
    device: Optional[str] = again(CommonConfig, "device")


#: every option by field name
OPTIONS: Dict[str, Option] = {f.name: f.metadata["option"]
                              for cls in (PretrainConfig, FinetuneConfig, EvalConfig)
                              for f in dataclasses.fields(cls)}

C = TypeVar("C", CommonConfig, EvalConfig)


def add_options(parser: argparse.ArgumentParser, config_class: Type[C],
                overrides: Optional[Dict[str, str]] = None) -> None:
    """Add an option for every field of ``config_class`` with the field's default.

    ``overrides`` replaces help texts by field name (``avprep eval`` reads ``--model`` as a path).
    Each option also takes its other spellings (:func:`avprep.cli.add_option`), named in its help.
    """
    from avprep.options import add_option

    overrides = overrides or {}
    defaults = config_class()
    for f in dataclasses.fields(config_class):
        opt: Option = f.metadata["option"]
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
