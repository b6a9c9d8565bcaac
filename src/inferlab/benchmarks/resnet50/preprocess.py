"""ImageNet preprocessing for ResNet50-v1.5, as the MLPerf reference does it.

Two transforms, both split in two steps so that the expensive, deterministic part can be cached:

* ``crop``: decode -> resize -> centre crop, giving a uint8 HWC 224x224x3 RGB array (cached);
* ``normalize``: uint8 NHWC batch -> float32 model input, done at gather time.

"pytorch" (``imagenet_pytorch`` in mlcommons/inference ``python/dataset.py``): torchvision
``Resize(256)`` (bilinear, on a PIL image) -> ``CenterCrop(224)`` -> ``ToTensor`` -> ``Normalize``
with mean [0.485, 0.456, 0.406] and std [0.229, 0.224, 0.225], NCHW. This module re-implements the
torchvision rules (output size, crop offsets, float32 arithmetic) with Pillow and numpy only; the
result is bit-identical to torchvision for the same decoded image (see the unit tests).

"mean_only" (the TF/ONNX ``pre_process_vgg`` path): aspect-preserving resize so the short side is
256 (long side truncated to int), centre crop 224 with truncated offsets, float32 minus
[123.68, 116.78, 103.94], no std division. With decoder "cv2" the resize is OpenCV's INTER_AREA as
in the reference; with Pillow it is Pillow's antialiased BILINEAR, an approximation (on smooth
test images it is closer to INTER_AREA than Pillow's BOX: mean |diff| ~1 grey level).

Decoding: the reference decodes with ``cv2.imread`` (BGR, 3 channels even for grayscale) then
converts BGR->RGB. Decoder "cv2" does the same (OpenCV imported lazily); decoder "pillow" uses
``Image.open(...).convert("RGB")``, which can differ slightly for CMYK files and in JPEG decoder
settings. Decoder "default" is the transform's own: "cv2" for "mean_only" (its reference resize
is INTER_AREA, which only OpenCV does), "pillow" for "pytorch" (its resize is PIL's either way).
The decoder name is part of the transform key, so cached tensors never mix decoders.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from types import ModuleType

import numpy as np
import PIL
from PIL import Image, features

from inferlab.core.errors import ConfigError, DataError

log = logging.getLogger(__name__)

RESIZE_SHORT_SIDE = 256
CROP_SIZE = 224

TRANSFORM_ID = "imagenet_pytorch"
TRANSFORM_VERSION = 1
MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)

MEAN_ONLY_TRANSFORM_ID = "imagenet_mean_only"
MEAN_ONLY_TRANSFORM_VERSION = 1
MEAN_ONLY_MEANS = np.array([123.68, 116.78, 103.94], dtype=np.float32)

DECODERS = ("default", "pillow", "cv2", "auto")

PREPARE_FIX = (
    "re-copy the file from the original ILSVRC2012 validation archive, or run "
    "`inferlab prepare resnet50 --from <ILSVRC2012_img_val dir or tar>`"
)


# --------------------------------------------------------------------------- decoding


@lru_cache(maxsize=1)
def _cv2() -> ModuleType | None:
    try:
        import cv2
    except ImportError:
        return None
    module: ModuleType = cv2
    return module


OPENCV_INSTALL = "pip install opencv-python-headless"  # requirements.txt installs it


def resolve_decoder(decoder: str, default: str = "pillow", *, who: str = "") -> str:
    """Return "pillow" or "cv2". "default" is ``default`` (a transform's reference decoder; a
    missing OpenCV is then an error naming ``who``, the preprocessing that needs it); "auto"
    picks cv2 when OpenCV is importable."""
    if decoder == "default":
        if default == "cv2" and _cv2() is None:
            raise ConfigError(
                f"{who or 'this preprocessing'} decodes and resizes with OpenCV (cv2.imdecode, "
                "cv2.resize INTER_AREA), as its MLPerf reference preprocessing does, and OpenCV "
                "is not installed",
                fix=f"{OPENCV_INSTALL}, or pass --set decoder=pillow, which is not the reference "
                "preprocessing for it (Pillow's resize only approximates INTER_AREA; accuracy can "
                "differ slightly)",
            )
        return resolve_decoder(default)
    if decoder == "pillow":
        return "pillow"
    if decoder == "auto":
        return "cv2" if _cv2() is not None else "pillow"
    if decoder == "cv2":
        if _cv2() is None:
            raise ConfigError(
                "image decoder 'cv2' needs OpenCV, which is not installed",
                fix=f"{OPENCV_INSTALL}, or use --set decoder=pillow",
            )
        return "cv2"
    raise ConfigError(f"unknown image decoder {decoder!r}", fix=f"use one of {', '.join(DECODERS)}")


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    return text[:200]


def decode_rgb(data: bytes, *, decoder: str = "pillow", name: str = "<bytes>") -> Image.Image:
    """Decode image bytes to a 3-channel RGB PIL image (grayscale/CMYK/palette become RGB).

    Raises DataError naming ``name`` for empty, truncated or non-image bytes.
    """
    decoder = resolve_decoder(decoder)
    if not data:
        raise DataError(f"image file {name} is empty", fix=PREPARE_FIX)
    try:
        if decoder == "cv2":
            cv2 = _cv2()
            assert cv2 is not None
            bgr = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
            if bgr is None:
                raise ValueError("OpenCV could not decode it")
            return Image.fromarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        img = Image.open(io.BytesIO(data))
        img.load()
        return img if img.mode == "RGB" else img.convert("RGB")
    except Exception as err:  # decoders raise many types on damaged input (OSError, SyntaxError..)
        raise DataError(
            f"image file {name} is corrupt or not an image ({_one_line(err)})", fix=PREPARE_FIX
        ) from err


# --------------------------------------------------------------------------- pytorch path


def torchvision_resize_size(
    width: int, height: int, size: int = RESIZE_SHORT_SIDE
) -> tuple[int, int]:
    """(new_width, new_height) of torchvision ``Resize(size)``: short side -> size, long side
    int(size * long / short) truncated (``_compute_resized_output_size``)."""
    short, long = (width, height) if width <= height else (height, width)
    new_short, new_long = size, int(size * long / short)
    return (new_short, new_long) if width <= height else (new_long, new_short)


def torchvision_crop_offsets(width: int, height: int, crop: int = CROP_SIZE) -> tuple[int, int]:
    """(top, left) of torchvision ``CenterCrop(crop)`` for an image at least crop x crop."""
    return int(round((height - crop) / 2.0)), int(round((width - crop) / 2.0))


def pytorch_crop_from_image(img: Image.Image, decoder: str = "pillow") -> np.ndarray:
    """Resize(256, bilinear) + CenterCrop(224) of an RGB PIL image -> uint8 (224, 224, 3).

    ``decoder`` is accepted for a uniform signature; the reference resizes with PIL either way.
    """
    del decoder
    if img.mode != "RGB":
        img = img.convert("RGB")
    width, height = img.size
    new_w, new_h = torchvision_resize_size(width, height)
    if (new_w, new_h) != (width, height):  # torchvision returns the image unchanged here
        img = img.resize((new_w, new_h), Image.Resampling.BILINEAR)
    top, left = torchvision_crop_offsets(new_w, new_h)
    arr = np.asarray(img, dtype=np.uint8)
    return np.ascontiguousarray(arr[top : top + CROP_SIZE, left : left + CROP_SIZE])


def preprocess_pytorch(
    data: bytes, *, decoder: str = "pillow", name: str = "<bytes>"
) -> np.ndarray:
    """Decode + Resize(256) + CenterCrop(224): the cacheable uint8 HWC crop."""
    return pytorch_crop_from_image(decode_rgb(data, decoder=decoder, name=name))


def _check_batch(batch: np.ndarray) -> np.ndarray:
    x = np.asarray(batch)
    if x.dtype != np.uint8 or x.ndim != 4 or x.shape[-1] != 3:
        raise ValueError(f"expected a uint8 NHWC batch with 3 channels, got {x.dtype} {x.shape}")
    return x


def normalize_nchw(batch: np.ndarray) -> np.ndarray:
    """uint8 NHWC -> float32 NCHW: ToTensor (/255) then (x - mean) / std, all in float32.

    Matches ``torchvision.transforms.functional.to_tensor`` + ``normalize`` bit for bit.
    """
    x = _check_batch(batch)
    n, h, w, c = x.shape
    out = np.empty((n, c, h, w), dtype=np.float32)
    np.divide(x.transpose(0, 3, 1, 2), np.float32(255), out=out, dtype=np.float32)
    out -= MEAN[:, None, None]
    out /= STD[:, None, None]
    return out


# --------------------------------------------------------------------------- mean-only path


def mean_only_resize_size(
    width: int, height: int, size: int = RESIZE_SHORT_SIDE
) -> tuple[int, int]:
    """(new_width, new_height) of the reference ``resize_with_aspectratio`` (224 / 0.875)."""
    if height > width:
        return size, int(size * height / width)
    return int(size * width / height), size


def mean_only_crop_from_image(img: Image.Image, decoder: str = "pillow") -> np.ndarray:
    """Aspect-preserving resize (short side 256) + centre crop 224 -> uint8 (224, 224, 3).

    decoder "cv2": cv2.resize INTER_AREA, exactly the reference. "pillow": Pillow BILINEAR, an
    approximation of INTER_AREA (not bit-identical).
    """
    if img.mode != "RGB":
        img = img.convert("RGB")
    width, height = img.size
    new_w, new_h = mean_only_resize_size(width, height)
    cv2 = _cv2() if resolve_decoder(decoder) == "cv2" else None
    if cv2 is not None:
        arr = cv2.resize(np.asarray(img), (new_w, new_h), interpolation=cv2.INTER_AREA)
    else:
        arr = np.asarray(img.resize((new_w, new_h), Image.Resampling.BILINEAR), dtype=np.uint8)
    top, left = int((new_h - CROP_SIZE) / 2), int((new_w - CROP_SIZE) / 2)
    return np.ascontiguousarray(arr[top : top + CROP_SIZE, left : left + CROP_SIZE])


def preprocess_mean_only(
    data: bytes, *, decoder: str = "pillow", name: str = "<bytes>"
) -> np.ndarray:
    """Decode + resize + centre crop for the TF/ONNX model: the cacheable uint8 HWC crop."""
    return mean_only_crop_from_image(decode_rgb(data, decoder=decoder, name=name), decoder)


def normalize_mean_only(batch: np.ndarray, layout: str = "NCHW") -> np.ndarray:
    """uint8 NHWC -> float32 (x - [123.68, 116.78, 103.94]) in NCHW (default) or NHWC."""
    x = _check_batch(batch)
    if layout not in ("NCHW", "NHWC"):
        raise ValueError(f"layout must be NCHW or NHWC, got {layout!r}")
    out = x.astype(np.float32)
    out -= MEAN_ONLY_MEANS
    return np.ascontiguousarray(out.transpose(0, 3, 1, 2)) if layout == "NCHW" else out


# --------------------------------------------------------------------------- keys and registry


def _library_versions(decoder: str) -> str:
    parts = [f"pillow={PIL.__version__}", f"numpy={np.__version__}"]
    if decoder == "pillow":
        parts.append(f"libjpeg={features.version('jpg')}")
        turbo = features.version("libjpeg_turbo")
        if turbo:
            parts.append(f"libjpeg_turbo={turbo}")
    else:
        cv2 = _cv2()
        parts.append(f"cv2={getattr(cv2, '__version__', 'unknown')}")
    return ";".join(parts)


def transform_key(decoder: str = "pillow") -> str:
    """Identity of the "pytorch" transform's crops: id, version, decoder, library versions."""
    d = resolve_decoder(decoder)
    return f"{TRANSFORM_ID}/v{TRANSFORM_VERSION};decoder={d};{_library_versions(d)}"


def mean_only_transform_key(decoder: str = "pillow") -> str:
    """Identity of the "mean_only" transform's cached crops."""
    d = resolve_decoder(decoder)
    resize = "cv2-inter_area" if d == "cv2" else "pillow-bilinear-approx"
    return (
        f"{MEAN_ONLY_TRANSFORM_ID}/v{MEAN_ONLY_TRANSFORM_VERSION};decoder={d};resize={resize};"
        f"{_library_versions(d)}"
    )


@dataclass(frozen=True)
class ImageTransform:
    """One named ImageNet transform: cacheable crop step + gather-time normalisation."""

    name: str
    transform_id: str
    version: int
    crop_from_image: Callable[[Image.Image, str], np.ndarray]
    normalize: Callable[[np.ndarray], np.ndarray]
    key_fn: Callable[[str], str]
    # ``normalize`` as (divisor, mean, std): float32 ((x / divisor) - mean) / std per channel,
    # in that order, so that a device-side implementation gives the same float32 values
    norm: tuple[float, tuple[float, ...], tuple[float, ...]] = (1.0, (0.0,) * 3, (1.0,) * 3)
    # the decoder "default" stands for: the one that gives the reference preprocessing's bytes
    default_decoder: str = "pillow"

    def key(self, decoder: str = "pillow") -> str:
        return self.key_fn(self.decoder(decoder))

    def decoder(self, decoder: str = "default") -> str:
        """ "pillow" or "cv2" for a configured decoder ("default": this transform's own)."""
        return resolve_decoder(
            decoder, self.default_decoder, who=f"the {self.name} ImageNet preprocessing"
        )

    def crop_from_bytes(
        self, data: bytes, *, decoder: str = "pillow", name: str = "<bytes>"
    ) -> np.ndarray:
        d = self.decoder(decoder)
        return self.crop_from_image(decode_rgb(data, decoder=d, name=name), d)


TRANSFORMS: dict[str, ImageTransform] = {
    "pytorch": ImageTransform(
        "pytorch",
        TRANSFORM_ID,
        TRANSFORM_VERSION,
        pytorch_crop_from_image,
        normalize_nchw,
        transform_key,
        (255.0, tuple(MEAN.tolist()), tuple(STD.tolist())),
    ),
    "mean_only": ImageTransform(
        "mean_only",
        MEAN_ONLY_TRANSFORM_ID,
        MEAN_ONLY_TRANSFORM_VERSION,
        mean_only_crop_from_image,
        normalize_mean_only,
        mean_only_transform_key,
        (1.0, tuple(MEAN_ONLY_MEANS.tolist()), (1.0, 1.0, 1.0)),
        default_decoder="cv2",
    ),
}


def get_transform(name: str) -> ImageTransform:
    """Look a transform up by name ("pytorch" or "mean_only"; the ids are accepted too)."""
    for t in TRANSFORMS.values():
        if name in (t.name, t.transform_id):
            return t
    raise ConfigError(
        f"unknown ImageNet transform {name!r}", fix=f"use one of {', '.join(TRANSFORMS)}"
    )
