"""Recipe error vs kernel error: the deployed INT8 kernels against the same quantized graph in
exact arithmetic, image by image.

A quantized graph's accuracy change has two causes: the recipe (where the ranges and rounding put
each value) and the kernels that run it (on x86 without VNNI, u8×s8 products are summed in 16 bits
and saturate). Scoring the same graph in exact arithmetic (float math between exact
quantize/dequantize pairs) separates them: exact vs the FP32 reference is the recipe's share,
deployed vs exact the kernels'.
"""

from __future__ import annotations

from quantarena.hardware import Int8Arithmetic
from quantarena.results.accuracy import PairedComparison
from quantarena.results.measurements import Block


class KernelCheck(Block):
    images: int
    exact_top1: float
    #: top-1 agreement of the deployed kernels with exact arithmetic (``kernel_agreement``)
    agreement_top1: float
    #: deployed vs exact, correct/incorrect per image: the kernels' share of the change
    kernels: PairedComparison
    #: exact vs the FP32 reference in percentage points: the recipe's share (with a reference)
    recipe_delta_pp: float | None = None
    #: the CPU whose kernels ran, to name a cause
    cpu: Int8Arithmetic | None = None
    #: the exact-arithmetic predictions (``.npz``), relative to the run folder
    predictions_file: str | None = None

    @property
    def kernel_delta_pp(self) -> float:
        return self.kernels.delta_pp

    def row_notes(self) -> list[str]:
        if not self.kernels.significant:
            return []
        lo, hi = self.kernels.ci95_pp
        line = (
            f"the deployed INT8 kernels change top-1 by {self.kernels.delta_pp:+.2f} pp "
            f"[{lo:+.1f}, {hi:+.1f}] against the same graph in exact arithmetic "
            f"(agreement {self.agreement_top1:.1%}, McNemar p = {self.kernels.mcnemar_p:.2g})"
        )
        if self.cpu is not None and self.cpu.saturates:
            return [
                f"{line}: the kernels' error, not the recipe's. Cause: {self.cpu.describe()}; "
                "remedy: the recipe's saturation remedy (reduce_range / overflow_fix: 'auto' "
                "turns it on for this CPU)"
            ]
        cpu = self.cpu.describe() if self.cpu else "an unrecorded CPU"
        return [f"{line}: the kernels' error, not the recipe's, on {cpu}"]
