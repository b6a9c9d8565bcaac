"""RetinaNet 800x800 preprocessing, as the MLPerf reference does it.

The reference (mlcommons/inference ``vision/classification_and_detection``):

* ``python/openimages.py`` decodes each file with ``cv2.imread(src)``: 3-channel BGR uint8, with
  the JPEG's EXIF orientation applied (``cv2.imdecode`` with ``IMREAD_COLOR`` gives the same
  array; checked in the unit tests), then calls ``pre_process_openimages_retinanet``;
* ``python/dataset.py::maybe_resize`` converts the array to **float32 first**, turns a 2-D or
  non-3-channel image into RGB with ``COLOR_GRAY2RGB``, then converts ``COLOR_BGR2RGB``, then
  resizes the float32 image to 800x800 with ``cv2.resize(..., interpolation=cv2.INTER_LINEAR)``
  (no aspect preservation, no crop);
* ``pre_process_openimages_retinanet`` divides by 255 in float32 and transposes HWC -> CHW for
  the NCHW backends (pytorch, onnxruntime). There is **no mean/std normalisation** here: the
  RetinaNet model normalises inside (its GeneralizedRCNNTransform-style first stage).

Because the resize runs on float32 pixels, the resized values are not integers (a uint8 resize
would round them): the model input is kept as float32, never re-quantised.

The original (height, width) that the accuracy script scales boxes back to comes from the
annotation file (``images[i].height/width``), which ``tools/openimages.py`` wrote from
``cv2.imread(path).shape[:2]``: the same decode as here, so :func:`preprocess_bytes` returns it
too and the dataset can check the two agree.

OpenCV is imported lazily (it is the ``[vision]`` extra); a missing OpenCV is a ConfigError with
the install command. A file OpenCV cannot decode is a DataError naming the file.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path
from types import ModuleType

import numpy as np

from inferlab.core.errors import ConfigError, DataError

log = logging.getLogger(__name__)

#: The reference's ``image_size`` for "openimages-800-retinanet" (python/main.py).
IMAGE_SIZE = 800
TRANSFORM_ID = "openimages_retinanet"
TRANSFORM_VERSION = 1
OPENCV_INSTALL = "pip install opencv-python-headless"  # the [vision] extra
PREPARE_FIX = (
    "re-download the image (it is in the public open-images-dataset bucket, "
    "validation/<ImageID>.jpg), or run `inferlab prepare retinanet`"
)


@lru_cache(maxsize=1)
def _cv2_or_none() -> ModuleType | None:
    try:
        import cv2
    except ImportError:
        return None
    module: ModuleType = cv2
    return module


def cv2_module() -> ModuleType:
    """OpenCV, or a ConfigError with the install command."""
    cv2 = _cv2_or_none()
    if cv2 is None:
        raise ConfigError(
            "the RetinaNet preprocessing decodes and resizes with OpenCV (cv2.imdecode, "
            "cv2.resize INTER_LINEAR), as its MLPerf reference does, and OpenCV is not installed",
            fix=f"{OPENCV_INSTALL} (or install inferlab with the [vision] extra)",
        )
    return cv2


def transform_key() -> str:
    """Identity of the preprocessed tensors (for an on-disk cache): id, version, size, and
    the OpenCV and numpy versions that computed them."""
    cv2 = cv2_module()
    return (
        f"{TRANSFORM_ID}/v{TRANSFORM_VERSION};size={IMAGE_SIZE};"
        f"cv2={getattr(cv2, '__version__', 'unknown')};numpy={np.__version__}"
    )


def _one_line(err: BaseException) -> str:
    return (" ".join(str(err).split()) or type(err).__name__)[:200]


def decode_bgr(data: bytes, *, name: str = "<bytes>") -> np.ndarray:
    """Decode image bytes as ``cv2.imread`` does: uint8 (H, W, 3) BGR, EXIF orientation applied,
    grayscale expanded to 3 channels. DataError naming ``name`` for empty or undecodable bytes."""
    cv2 = cv2_module()
    if not data:
        raise DataError(f"image file {name} is empty", fix=PREPARE_FIX)
    try:
        img = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    except cv2.error as err:  # pragma: no cover - OpenCV returns None for most bad input
        raise DataError(
            f"image file {name} is corrupt or not an image ({_one_line(err)})", fix=PREPARE_FIX
        ) from err
    if img is None or img.size == 0:
        raise DataError(
            f"image file {name} is corrupt or not an image (OpenCV could not decode it)",
            fix=PREPARE_FIX,
        )
    arr: np.ndarray = img
    return arr


def preprocess_array(img: np.ndarray, size: int = IMAGE_SIZE) -> np.ndarray:
    """The reference ``pre_process_openimages_retinanet`` on a decoded array (as ``cv2.imread``
    returns it: BGR, or 2-D grayscale): float32, GRAY2RGB when not 3 channels, BGR2RGB, resize to
    ``size`` x ``size`` with INTER_LINEAR (on float32), /255, CHW. Returns float32 (3, size, size),
    C-contiguous."""
    cv2 = cv2_module()
    x = np.array(img, dtype=np.float32)
    if x.ndim < 3 or x.shape[2] != 3:
        # the reference's "some images might be grayscale" branch (a 2-D or 1-channel array)
        x = cv2.cvtColor(x, cv2.COLOR_GRAY2RGB)
    x = cv2.cvtColor(x, cv2.COLOR_BGR2RGB)
    x = cv2.resize(x, (size, size), interpolation=cv2.INTER_LINEAR)
    x /= np.float32(255.0)
    out: np.ndarray = np.ascontiguousarray(x.transpose(2, 0, 1))
    return out


def preprocess_bytes(
    data: bytes, *, name: str = "<bytes>", size: int = IMAGE_SIZE
) -> tuple[np.ndarray, tuple[int, int]]:
    """Image bytes -> (float32 CHW (3, size, size) model input, (height, width) of the decoded
    image, the size the accuracy script scales normalised boxes back to)."""
    img = decode_bgr(data, name=name)
    height, width = int(img.shape[0]), int(img.shape[1])
    try:
        return preprocess_array(img, size), (height, width)
    except Exception as err:  # cv2.error on a degenerate image
        cv2 = _cv2_or_none()
        if cv2 is not None and isinstance(err, cv2.error):
            raise DataError(
                f"image file {name} could not be resized ({_one_line(err)})", fix=PREPARE_FIX
            ) from err
        raise


def preprocess_file(path: str | Path, size: int = IMAGE_SIZE) -> tuple[np.ndarray, tuple[int, int]]:
    """:func:`preprocess_bytes` of a file; DataError naming the file when it cannot be read."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as err:
        raise DataError(f"cannot read image {p}: {err.strerror or err}", fix=PREPARE_FIX) from err
    return preprocess_bytes(data, name=str(p), size=size)
