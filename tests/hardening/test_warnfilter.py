"""``-W FILTER`` on the training commands, as ``python -W`` takes it."""

from __future__ import annotations

import os
import warnings

import pytest

from avprep.cli import build_parser
from avprep.errors import InputError
from avprep.warnfilter import apply_warning_filters


def test_filters_apply_here_and_to_child_processes(monkeypatch):
    monkeypatch.setenv("PYTHONWARNINGS", "default")
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        apply_warning_filters(["ignore::DeprecationWarning", "error:boom:UserWarning"])
        warnings.warn("old", DeprecationWarning)
        warnings.warn("other", UserWarning)
        with pytest.raises(UserWarning):
            warnings.warn("boom happened", UserWarning)
    assert [str(w.message) for w in seen] == ["other"]
    assert os.environ["PYTHONWARNINGS"] == ("default,ignore::DeprecationWarning,"
                                            "error:boom:UserWarning")
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        apply_warning_filters(["i"])  # an abbreviation, as python -W takes it
        warnings.warn("anything", RuntimeWarning)
    assert seen == []


@pytest.mark.parametrize("bad", ["loud", "ignore::NoSuchWarning", "ignore::int",
                                 "ignore::Warning:mod:x", "a:b:c:d:e:f"])
def test_bad_filters_are_input_errors(bad):
    with warnings.catch_warnings():
        with pytest.raises(InputError, match="-W"):
            apply_warning_filters([bad])


@pytest.mark.parametrize("command", [["train", "pretrain"], ["train", "finetune"], ["eval"]])
def test_the_published_scripts_shape_parses(command):
    args = build_parser().parse_args([*command, "-W", "ignore", "--batch-size", "4"])
    assert args.warning_filters == ["ignore"] and args.batch_size == 4
