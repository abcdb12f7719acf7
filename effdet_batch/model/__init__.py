"""EfficientDet D0-D7x: the network, its checkpoints, pre- and postprocessing, and `Detector`."""
from .config import DETECTORS, get_spec
from .detector import Detector
from .factory import create_model
from .info import model_info
from .postprocess import postprocess
from .preprocess import letterbox

__all__ = ["create_model", "model_info", "letterbox", "postprocess", "Detector", "DETECTORS", "get_spec"]
