"""PyTorch on an NVIDIA GPU: FP32 (TF32 off and on), FP16 and BF16 (module cast or autocast),
``torch.compile``d, and torchao's INT8 (weight-only, dynamic activations)."""
