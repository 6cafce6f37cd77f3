"""revgnn_edu: train graph neural networks with 1000 layers, one idea at a time."""

__version__ = "0.1.0"
