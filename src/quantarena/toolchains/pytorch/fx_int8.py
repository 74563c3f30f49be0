"""FX graph-mode static INT8: works on any symbolically traceable module, no quantizable twin.

FX finds conv+bn+relu patterns and functional adds itself, so it quantizes the plain torchvision
model the FP32 reference runs. The converted GraphModule is saved as TorchScript. Modules named in
``fp32_modules`` get no qconfig (``set_module_name(name, None)``), so FX leaves them in float and
puts quantize/dequantize around them.
"""

from __future__ import annotations

from pathlib import Path

from quantarena.data.cache import ImageArray
from quantarena.errors import first_line
from quantarena.models.spec import ModelBundle
from quantarena.toolchains.base import Built
from quantarena.toolchains.pytorch import _common, _fp32_layers
from quantarena.toolchains.pytorch.facts import TorchFxInt8Facts
from quantarena.toolchains.pytorch.recipes import TorchFxInt8


def build(
    bundle: ModelBundle, recipe: TorchFxInt8, calibration: ImageArray, workdir: Path
) -> Built:
    import torch
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    notes: list[str] = []
    images = _common.select_images(calibration, recipe.calibration_images)
    example = _common.example_inputs(images)
    target = workdir / "model.int8-fx.torchscript.pt"
    module = _common.fp32_module(bundle)
    layers = _fp32_layers.quantizable_layers(module, bundle.input_shape)
    _fp32_layers.refuse_unknown(recipe.fp32_modules, layers, "the model")
    with _common.captured_warnings(notes):
        engine = _common.set_engine(recipe.engine)
        mapping = get_default_qconfig_mapping(recipe.engine)
        for name in recipe.fp32_modules:
            mapping.set_module_name(name, None)
        try:
            prepared = prepare_fx(module, mapping, example)
        except Exception as exc:  # noqa: BLE001 - torch.fx raises many types; all mean "untraceable"
            raise RuntimeError(
                f"{bundle.torch_source} is not symbolically traceable by torch.fx "
                f"({type(exc).__name__}: {first_line(exc)}); try pytorch:int8-pt2e"
            ) from exc
        seen = _common.calibrate(prepared, images, recipe.calibration_batch)
        converted = convert_fx(prepared)
        how = _common.save_torchscript(converted, example, target)
        # Instantiating the observers to read them back warns about their deprecated settings.
        activations, weights = _common.describe_qconfig(mapping.global_qconfig)
        remedy = _common.qconfig_remedy(
            mapping.global_qconfig, f"get_default_qconfig_mapping({recipe.engine!r})"
        )
    facts = TorchFxInt8Facts(
        quantized_engine=engine,
        flow="torch.ao.quantization FX: prepare_fx, calibrate, convert_fx",
        qconfig_mapping=f"get_default_qconfig_mapping({recipe.engine!r})",
        activations=activations,
        weights=weights,
        serialized_with=how,
        quantized_modules=_common.count_modules(converted),
        saturation_remedy=remedy,
        torch=torch.__version__,
        layers_kept_in_fp32=_fp32_layers.fx_float_layers(converted, layers),
    )
    return Built(target, facts, calibration_images=seen, notes=notes)
