"""Importers of trained models (ONNX, PyTorch) into workload graphs and weights."""
