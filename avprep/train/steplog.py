"""Training progress for logs: a line every ``--n-print-steps`` steps where no bar can be seen.

On a terminal the epoch's progress bar (:mod:`avprep.progress`) shows the running loss; in a SLURM
or nohup log (stderr not a terminal, or ``AVPREP_PROGRESS=0``) the bar is hidden and a line such as

    epoch 1 step 100/1531 (total 100): loss 5.1215  loss_mae_a 3.4624 ... lr 0.0001  412.3 samples/s

is printed on stdout instead, with this step's values (as the original prints them), the epoch's
running mean loss, the lr and the speed since the previous line over all processes.
"""

from __future__ import annotations

import time
from typing import Mapping

from avprep import progress


class StepLog:
    """Prints a progress line every ``every`` steps when no progress bar is shown.

    ``steps_per_epoch`` is the number of batches per epoch, ``world_size`` the number of
    processes (the speed counts all of them); ``show`` is False off the main process.
    """

    def __init__(self, every: int, steps_per_epoch: int, world_size: int = 1, show: bool = True):
        self.every = int(every)
        self.steps_per_epoch = steps_per_epoch
        self.world_size = world_size
        self.enabled = show and self.every > 0 and not progress.enabled()
        self.reset()

    def reset(self) -> None:
        """Restart the speed measurement (call before each epoch's first batch)."""
        self.since = time.monotonic()
        self.samples = 0

    def step(self, epoch: int, step_in_epoch: int, global_step: int, batch_size: int,
             values: Mapping[str, float], mean_loss: float, lr: float) -> bool:
        """Count one step of ``batch_size`` samples (per process); print its line when
        ``global_step`` is a multiple of ``every``. Returns whether a line was printed."""
        self.samples += batch_size
        if not self.enabled or global_step % self.every:
            return False
        elapsed = max(time.monotonic() - self.since, 1e-9)
        rate = self.samples * self.world_size / elapsed
        shown = "  ".join(f"{name} {value:.4f}" for name, value in values.items())
        print(f"epoch {epoch} step {step_in_epoch}/{self.steps_per_epoch} (total {global_step}): "
              f"{shown}  mean_loss {mean_loss:.4f}  lr {lr:.4g}  {rate:.1f} samples/s",
              flush=True)
        self.reset()
        return True
