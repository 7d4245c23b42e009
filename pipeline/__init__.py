"""The paper's model pipeline (host side): architectures, distillation, pruning, quantization, export."""
