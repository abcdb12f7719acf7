"""effdet_batch: batch inference and evaluation of EfficientDet D0-D7x on Ray."""
__version__ = "0.1.0"
