"""A user's own ONNX classifier: validated, its batch axis made dynamic, copied into the run."""

from __future__ import annotations

from pathlib import Path

from quantarena.errors import ModelError


def import_onnx(source: Path, target: Path) -> tuple[str, str, tuple[int, int, int]]:
    """Check ``source``, write it to ``target`` with a symbolic batch axis.

    Returns (input name, output name, (C, H, W)). A file that is not a valid ONNX model, or whose
    input is not a 4-D image tensor, raises ``ModelError`` with the reason.
    """
    import onnx

    if not source.exists():
        raise ModelError(f"ONNX file not found: {source}")
    try:
        model = onnx.load(str(source))
        onnx.checker.check_model(model)
    except Exception as exc:  # noqa: BLE001 - protobuf raises several types for corrupt files
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"{source} is not a valid ONNX model: {first}") from exc
    initializers = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initializers]
    if len(inputs) != 1:
        raise ModelError(f"{source}: expected one image input, found {len(inputs)}")
    dims = inputs[0].type.tensor_type.shape.dim
    if len(dims) != 4:
        raise ModelError(f"{source}: input {inputs[0].name!r} is {len(dims)}-D, expected NCHW")
    chw = []
    for d in dims[1:]:
        if not d.HasField("dim_value"):
            raise ModelError(f"{source}: input {inputs[0].name!r} needs fixed C, H, W sizes")
        chw.append(int(d.dim_value))
    dims[0].ClearField("dim_value")
    dims[0].dim_param = "batch"
    for output in model.graph.output:
        out_dims = output.type.tensor_type.shape.dim
        if out_dims:
            out_dims[0].ClearField("dim_value")
            out_dims[0].dim_param = "batch"
    onnx.save(model, str(target))
    return inputs[0].name, model.graph.output[0].name, (chw[0], chw[1], chw[2])
