"""The network of a ModelSpec as an ONNX graph, built from canonical parameters with the ``onnx`` package.

Shared by the inference runtimes that read ONNX (``onnxruntime``,
``openvino``): one graph, so two runtimes differ only in how they run it.
``layout`` converts the canonical gate order to ONNX's; ``graph`` builds the
model. Importing this package imports nothing; its modules import ``onnx``.
"""
