"""The CPU's INT8 arithmetic from its flags (fake flag sets: tests pass on either kind of CPU),
and ``auto`` remedies resolved from it."""

from __future__ import annotations

import numpy as np
import pytest

from quantarena.hardware import int8_arithmetic, read_cpu, saturation_remedy, this_cpu
from quantarena.measure.accuracy import Predictions

ZEN3 = {"sse2", "ssse3", "avx", "avx2", "fma"}  # AVX2 only: no AVX-512, no VNNI
ZEN4 = ZEN3 | {"avx512f", "avx512bw", "avx512_vnni", "avx512_bf16"}
SAPPHIRE_RAPIDS = ZEN4 | {"amx_tile", "amx_int8", "amx_bf16"}
ALDER_LAKE = ZEN3 | {"avx_vnni"}


@pytest.mark.parametrize(
    ("arch", "flags", "dot", "saturates"),
    [
        ("x86_64", ZEN3, "vpmaddubsw", True),
        ("x86_64", ZEN3 | {"avx512f", "avx512bw"}, "vpmaddubsw", True),  # AVX-512 without VNNI
        ("x86_64", ZEN4, "avx512_vnni", False),
        ("x86_64", SAPPHIRE_RAPIDS, "amx", False),
        ("x86_64", ALDER_LAKE, "avx_vnni", False),
        ("aarch64", {"fp", "asimd", "asimddp"}, "dotprod", False),
        ("aarch64", {"fp", "asimd", "asimddp", "i8mm"}, "i8mm", False),
        ("aarch64", {"fp", "asimd"}, "none", False),
    ],
)
def test_int8_dot_product_from_flags(arch: str, flags: set[str], dot: str, saturates: bool) -> None:
    cpu = int8_arithmetic(arch, flags)
    assert cpu.dot_product == dot and cpu.saturates is saturates
    assert cpu.describe()


def test_this_machine_is_classified_from_its_real_flags() -> None:
    _, arch, flags = read_cpu()
    cpu = this_cpu()
    assert cpu == int8_arithmetic(arch, flags)
    assert cpu.saturates is ("avx512_vnni" not in flags and "avx_vnni" not in flags
                             and "amx_int8" not in flags)


def test_auto_remedy_turns_on_only_where_sums_saturate() -> None:
    on = saturation_remedy("auto", remedy="reduce_range", cpu=int8_arithmetic("x86_64", ZEN3))
    assert on.asked == "auto" and on.value is True and "VPMADDUBSW" in on.why
    off = saturation_remedy("auto", remedy="reduce_range", cpu=int8_arithmetic("x86_64", ZEN4))
    assert off.value is False and "VNNI" in off.why
    forced = saturation_remedy(False, remedy="reduce_range", cpu=int8_arithmetic("x86_64", ZEN3))
    assert forced.asked == "false" and forced.value is False and "forced off" in forced.why


def _predictions(top1: list[int], labels: list[int]) -> Predictions:
    top5 = np.array([[t, 0, 0, 0, 0] for t in top1])
    return Predictions([f"img{i}" for i in range(len(top1))], np.array(labels), top5)


def test_kernel_check_separates_the_kernels_share_and_names_the_cause() -> None:
    labels = list(range(200))
    exact = _predictions(labels, labels)  # the graph in exact arithmetic: all right
    wrong = [label + 1 if i < 40 else label for i, label in enumerate(labels)]
    deployed = _predictions(wrong, labels)  # the kernels lose 40 images
    check = deployed.kernel_check(exact, int8_arithmetic("x86_64", ZEN3))
    assert check.agreement_top1 == pytest.approx(0.8) and check.exact_top1 == 1.0
    assert check.kernel_delta_pp == pytest.approx(-20.0) and check.kernels.significant
    note = check.row_notes()[0]
    assert "kernels' error" in note and "VPMADDUBSW" in note and "remedy" in note
    close = _predictions([label + 1 if i < 1 else label for i, label in enumerate(labels)], labels)
    assert close.kernel_check(exact, int8_arithmetic("x86_64", ZEN4)).row_notes() == []
    with pytest.raises(ValueError, match="different images"):
        deployed.kernel_check(_predictions(labels[:10], labels[:10]), None)
