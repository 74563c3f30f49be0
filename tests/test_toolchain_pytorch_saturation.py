"""The CPU decides the answer, without a build: PT2E/QAT's ``reduce_range`` knob (``auto`` by
default, versioned), how it resolves per CPU, and how eager/FX read back what their engine's
qconfig already does. The builds that check the same on a real model (one on this CPU, one on a
fake saturating CPU) and the exact twin are in ``test_toolchain_pytorch_pt2e.py``, next to the
other PT2E builds they share.
"""

from __future__ import annotations

import warnings

import pytest

from quantarena import hardware
from quantarena.errors import ConfigError
from quantarena.toolchains import get_toolchain
from quantarena.toolchains.pytorch import TorchPt2eInt8, TorchQatInt8, _common
from quantarena.toolchains.registry import recipe_from_payload

#: An AVX2 CPU without VNNI: VPMADDUBSW sums u8×s8 pairs in 16 bits and saturates.
SATURATING = hardware.int8_arithmetic("x86_64", {"sse4_2", "avx2", "fma"})
#: A CPU with AVX-512 VNNI: 32-bit sums, nothing saturates.
VNNI = hardware.int8_arithmetic("x86_64", {"avx2", "avx512bw", "avx512_vnni"})


def _pretend(monkeypatch: pytest.MonkeyPatch, cpu: hardware.Int8Arithmetic) -> None:
    monkeypatch.setattr(hardware, "this_cpu", lambda: cpu)


# --- the knob ------------------------------------------------------------------------------------


def test_reduce_range_is_auto_by_default_and_its_recipes_are_version_2() -> None:
    toolchain = get_toolchain("pytorch")
    for name, cls in (("int8-pt2e", TorchPt2eInt8), ("int8-qat", TorchQatInt8)):
        assert cls.version == 2 and cls().reduce_range == "auto", name
        for value in ("auto", True, False):
            assert toolchain.parse_recipe(name, {"reduce_range": value}).reduce_range == value
        with pytest.raises(ValueError):
            toolchain.parse_recipe(name, {"reduce_range": "sometimes"})
        payload = toolchain.parse_recipe(name, {"reduce_range": False}).to_payload(
            f"pytorch:{name}"
        )
        assert payload.version == 2 and payload.knobs["reduce_range"] is False
        assert recipe_from_payload(payload)[1] == cls(reduce_range=False)
        # A job written when reduce_range was a plain bool defaulting to False is not misread.
        with pytest.raises(ConfigError, match="recipe version 1"):
            recipe_from_payload(payload.model_copy(update={"version": 1}))


# --- PT2E: resolved per CPU (the builds are in test_toolchain_pytorch_pt2e.py) -----------------


def test_a_forced_remedy_is_recorded_as_forced(monkeypatch: pytest.MonkeyPatch) -> None:
    """``false`` is torchao's unmitigated default, one knob away, even where sums saturate."""
    from quantarena.toolchains.pytorch import _pt2e

    _pretend(monkeypatch, SATURATING)
    off = _pt2e.resolve_reduce_range(False)
    assert (off.asked, off.value) == ("false", False)
    assert off.why.startswith("forced off by the recipe") and SATURATING.describe() in off.why
    _pretend(monkeypatch, VNNI)
    on = _pt2e.resolve_reduce_range(True)
    assert (on.asked, on.value) == ("true", True)
    assert _pt2e.resolve_reduce_range("auto").value is False


# --- eager / FX: what the qconfig already does ---------------------------------------------------


@pytest.mark.parametrize(
    ("engine", "reduced", "span"),
    [("x86", True, "[0, 127]"), ("fbgemm", True, "[0, 127]"), ("onednn", False, "[0, 255]")],
)
def test_the_qconfig_remedy_is_read_back_from_the_activation_observer(
    engine: str, reduced: bool, span: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from torch.ao import quantization as tq

    source = f"get_default_qconfig({engine!r})"
    with warnings.catch_warnings(record=True) as warned:  # torch warns about oneDNN's without VNNI
        warnings.simplefilter("always")
        qconfig = tq.get_default_qconfig(engine)  # type: ignore[no-untyped-call]  # no annotations
    if engine == "onednn" and hardware.this_cpu().dot_product == "vpmaddubsw":
        assert any("Vector Neural Network" in str(w.message) for w in warned), warned
    notes: list[str] = []
    for cpu in (SATURATING, VNNI):
        _pretend(monkeypatch, cpu)
        with _common.captured_warnings(notes):  # the observers warn about deprecated settings
            remedy = _common.qconfig_remedy(qconfig, source)
        assert (remedy.asked, remedy.value) == ("qconfig", reduced)
        assert remedy.why.startswith(f"{source} observes activations") and span in remedy.why
        assert cpu.describe() in remedy.why
    if reduced:
        assert "7 bits" in remedy.why and "without VNNI" in remedy.why
        assert "costs a little activation resolution" in remedy.why  # the VNNI CPU came last
