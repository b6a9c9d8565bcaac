"""ImageNet preprocessing: torchvision-exact pytorch path, mean-only path, decoding, errors."""

from __future__ import annotations

import hashlib
import io

import numpy as np
import PIL
import pytest
from PIL import Image

from inferlab.benchmarks.resnet50 import preprocess as P
from inferlab.core.errors import ConfigError, DataError

# sha256 of torchvision's output bytes (float32 NCHW (3, 224, 224), little endian) for the
# PNG-encoded images det_image(w, h, seed) below, computed with
#   T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(),
#              T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])(
#       Image.open(png).convert("RGB"))
# using torch 2.14.1, torchvision 0.29.1, Pillow 13.0.0, numpy 2.4.6. In the same run our
# output was array_equal to torchvision's for these and for JPEGs (RGB 500x375, 375x500,
# 257x1000, 1000x257, 4000x37, 224x224, 256x256, 223x500, 1x1, grayscale, CMYK), palette/RGBA/LA
# PNGs, with both the Pillow and the cv2 decoder (cv2 5.0.0, reference cv2 -> BGR2RGB -> PIL).
TORCHVISION_SHA256 = {
    (500, 375, 0): "d7f31e9de26396fca77a9fc33f2581aade34e0e5463179ca622ee3c5439acfc8",
    (375, 500, 1): "a676a888f648a22d67e4f3265364b8642a675b5d1b5af707403ac6d8514ae2e7",
    (257, 1000, 2): "48420a99891f4eb78c442e887f6facde1a2fd01b87c563304ce458b792d5058c",
}
RECORDED_PILLOW = "13.0.0"


def det_image(width: int, height: int, seed: int) -> np.ndarray:
    """Deterministic RGB uint8 image from integer hashing (no RNG stream, no lossy codec)."""
    y = np.arange(height, dtype=np.uint64)[:, None, None]
    x = np.arange(width, dtype=np.uint64)[None, :, None]
    c = np.arange(3, dtype=np.uint64)[None, None, :]
    v = (
        (x * np.uint64(73856093))
        ^ (y * np.uint64(19349663))
        ^ ((c + np.uint64(seed)) * np.uint64(83492791))
    )
    v = (v * np.uint64(2654435761)) & np.uint64(0xFFFFFFFF)
    noise = (v >> np.uint64(24)).astype(np.int64)
    smooth = (
        x.astype(np.int64) * 255 // width
        + y.astype(np.int64) * 255 // height
        + c.astype(np.int64) * 60
    ) % 256
    return ((smooth * 3 + noise) // 4).astype(np.uint8)


def encode(img: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def smooth_image(width: int, height: int, seed: int, mode: str = "RGB") -> Image.Image:
    rng = np.random.default_rng(seed)
    low = rng.integers(0, 256, (height // 20 + 2, width // 20 + 2, 3), dtype=np.uint8)
    return Image.fromarray(low).resize((width, height), Image.Resampling.BILINEAR).convert(mode)


@pytest.mark.parametrize(("width", "height", "seed"), list(TORCHVISION_SHA256))
def test_matches_recorded_torchvision_output(width: int, height: int, seed: int) -> None:
    if PIL.__version__.split(".")[0] != RECORDED_PILLOW.split(".")[0]:
        pytest.skip(f"hashes recorded with Pillow {RECORDED_PILLOW}, have {PIL.__version__}")
    png = encode(Image.fromarray(det_image(width, height, seed)), "PNG")
    crop = P.preprocess_pytorch(png, decoder="pillow", name="det.png")
    out = P.normalize_nchw(crop[None])[0]
    assert out.shape == (3, 224, 224) and out.dtype == np.float32
    digest = hashlib.sha256(out.astype("<f4").tobytes()).hexdigest()
    assert digest == TORCHVISION_SHA256[(width, height, seed)]
    # the raw-array entry point (used by the synthetic dataset) is the same code
    raw = P.pytorch_crop_from_image(Image.fromarray(det_image(width, height, seed)))
    assert np.array_equal(raw, crop)


def test_live_torchvision_equivalence_when_installed() -> None:
    T = pytest.importorskip("torchvision.transforms")
    tv = T.Compose(
        [
            T.Resize(256),
            T.CenterCrop(224),
            T.ToTensor(),
            T.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225]),
        ]
    )
    for w, h, mode in [(500, 375, "RGB"), (257, 1000, "RGB"), (375, 500, "L"), (300, 301, "CMYK")]:
        data = encode(smooth_image(w, h, w + h, mode), "JPEG", quality=90)
        ref = tv(Image.open(io.BytesIO(data)).convert("RGB")).numpy()
        ours = P.normalize_nchw(P.preprocess_pytorch(data)[None])[0]
        assert np.array_equal(ref, ours), (w, h, mode)


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ((500, 375), (341, 256)),
        ((375, 500), (256, 341)),
        ((257, 1000), (256, 996)),
        ((1000, 257), (996, 256)),
        ((256, 256), (256, 256)),
        ((1, 1), (256, 256)),
        ((4000, 37), (27675, 256)),
    ],
)
def test_torchvision_resize_rule(size: tuple[int, int], expected: tuple[int, int]) -> None:
    assert P.torchvision_resize_size(*size) == expected


def test_center_crop_offsets_use_round_half_even() -> None:
    # (341 - 224) / 2 = 58.5 -> Python round -> 58, as torchvision does
    assert P.torchvision_crop_offsets(341, 256) == (16, 58)
    assert P.torchvision_crop_offsets(256, 996) == (386, 16)


def test_normalize_nchw_is_float32_arithmetic() -> None:
    rng = np.random.default_rng(0)
    batch = rng.integers(0, 256, (2, 5, 7, 3), dtype=np.uint8)
    out = P.normalize_nchw(batch)
    assert out.shape == (2, 3, 5, 7) and out.dtype == np.float32 and out.flags.c_contiguous
    x = batch.transpose(0, 3, 1, 2).astype(np.float32) / np.float32(255)
    expect = (x - P.MEAN[:, None, None]) / P.STD[:, None, None]
    assert np.array_equal(out, expect)
    with pytest.raises(ValueError):
        P.normalize_nchw(batch.astype(np.float32))


@pytest.mark.parametrize("mode", ["L", "CMYK", "RGBA", "P", "LA", "1"])
def test_any_mode_becomes_rgb_crop(mode: str) -> None:
    img = smooth_image(300, 240, 3, "RGB").convert(mode)
    fmt = "JPEG" if mode in ("L", "CMYK") else "PNG"
    crop = P.preprocess_pytorch(encode(img, fmt), name=f"x.{fmt}")
    assert crop.shape == (224, 224, 3) and crop.dtype == np.uint8
    if mode in ("L", "1"):
        assert np.array_equal(crop[..., 0], crop[..., 1])
        assert np.array_equal(crop[..., 1], crop[..., 2])


@pytest.mark.parametrize(
    "data",
    [b"", b"not an image at all", b"\xff\xd8\xff\xe0" + b"\x00" * 40],
    ids=["empty", "text", "jpeg-header-only"],
)
def test_corrupt_bytes_raise_data_error_naming_file(data: bytes) -> None:
    with pytest.raises(DataError) as info:
        P.preprocess_pytorch(data, name="/data/ILSVRC2012_val_00000001.JPEG")
    msg = str(info.value)
    assert "ILSVRC2012_val_00000001.JPEG" in msg
    assert "inferlab prepare resnet50 --from" in msg and "re-copy" in msg
    assert "\n" not in msg


def test_truncated_jpeg_is_corrupt() -> None:
    data = encode(smooth_image(300, 300, 1), "JPEG", quality=90)
    with pytest.raises(DataError, match="cut.JPEG"):
        P.preprocess_pytorch(data[: len(data) // 2], name="cut.JPEG")


def test_decoder_resolution() -> None:
    assert P.resolve_decoder("pillow") == "pillow"
    assert P.resolve_decoder("auto") in ("pillow", "cv2")
    with pytest.raises(ConfigError, match="unknown image decoder"):
        P.resolve_decoder("libjpeg")
    if P._cv2() is None:
        assert P.resolve_decoder("auto") == "pillow"
        with pytest.raises(ConfigError, match="inferlab\\[vision\\]"):
            P.resolve_decoder("cv2")


def test_cv2_decoder_matches_pillow_for_rgb_jpeg() -> None:
    if P._cv2() is None:
        pytest.skip("OpenCV not installed")
    data = encode(smooth_image(333, 250, 5), "JPEG", quality=90)
    assert np.array_equal(P.preprocess_pytorch(data, decoder="cv2"), P.preprocess_pytorch(data))


def test_transform_keys() -> None:
    key = P.transform_key("pillow")
    assert key.startswith(f"{P.TRANSFORM_ID}/v{P.TRANSFORM_VERSION};decoder=pillow")
    assert f"pillow={PIL.__version__}" in key and f"numpy={np.__version__}" in key
    other = P.mean_only_transform_key("pillow")
    assert other.startswith(P.MEAN_ONLY_TRANSFORM_ID) and other != key
    assert P.get_transform("pytorch").key() == key
    assert P.get_transform(P.MEAN_ONLY_TRANSFORM_ID).name == "mean_only"
    with pytest.raises(ConfigError, match="pytorch, mean_only"):
        P.get_transform("caffe")


@pytest.mark.parametrize(
    ("size", "expected"),
    [((500, 375), (341, 256)), ((375, 500), (256, 341)), ((300, 300), (256, 256))],
)
def test_mean_only_resize_rule(size: tuple[int, int], expected: tuple[int, int]) -> None:
    assert P.mean_only_resize_size(*size) == expected


def test_mean_only_transform() -> None:
    data = encode(smooth_image(500, 375, 9), "JPEG", quality=90)
    crop = P.preprocess_mean_only(data)
    assert crop.shape == (224, 224, 3) and crop.dtype == np.uint8
    nchw = P.normalize_mean_only(crop[None])
    nhwc = P.normalize_mean_only(crop[None], layout="NHWC")
    assert nchw.shape == (1, 3, 224, 224) and nchw.dtype == np.float32
    assert np.array_equal(nhwc[0], crop.astype(np.float32) - P.MEAN_ONLY_MEANS)
    assert np.array_equal(nchw[0], nhwc[0].transpose(2, 0, 1))
    transform = P.get_transform("mean_only")
    assert np.array_equal(transform.crop_from_bytes(data), crop)
