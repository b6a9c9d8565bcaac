"""ResNet-50 v1.5 layout (torchvision key names) and strict state-dict loading."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from pathlib import Path

import pytest

pytest.importorskip("torch")

import torch  # noqa: E402

from inferlab.benchmarks.resnet50.model import build_resnet50, load_state_dict_file  # noqa: E402
from inferlab.core.errors import ModelError  # noqa: E402


@pytest.fixture(scope="module")
def resnet50() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_resnet50()


def tiny(num_classes: int = 10, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_resnet50(num_classes, width=8, layers=(1, 1, 1, 1))


def save(obj: object, path: Path) -> Path:
    torch.save(obj, path)
    return path


def test_full_resnet50_matches_torchvision_counts(resnet50: torch.nn.Module) -> None:
    state = resnet50.state_dict()
    assert len(state) == 320
    assert sum(p.numel() for p in resnet50.parameters()) == 25_557_032
    assert sum(k.endswith("num_batches_tracked") for k in state) == 53


def test_full_resnet50_key_names_and_shapes(resnet50: torch.nn.Module) -> None:
    state = resnet50.state_dict()
    keys = list(state)
    assert keys[:6] == [
        "conv1.weight",
        "bn1.weight",
        "bn1.bias",
        "bn1.running_mean",
        "bn1.running_var",
        "bn1.num_batches_tracked",
    ]
    assert keys[-2:] == ["fc.weight", "fc.bias"]
    shapes = {
        "conv1.weight": (64, 3, 7, 7),
        "layer1.0.conv1.weight": (64, 64, 1, 1),
        "layer1.0.conv3.weight": (256, 64, 1, 1),
        "layer1.0.downsample.0.weight": (256, 64, 1, 1),
        "layer1.0.downsample.1.running_var": (256,),
        "layer2.0.conv2.weight": (128, 128, 3, 3),
        "layer3.5.bn3.weight": (1024,),
        "layer4.0.downsample.0.weight": (2048, 1024, 1, 1),
        "layer4.2.conv3.weight": (2048, 512, 1, 1),
        "fc.weight": (1000, 2048),
        "fc.bias": (1000,),
    }
    for key, shape in shapes.items():
        assert tuple(state[key].shape) == shape, key
    downsampled = sorted({k.split(".downsample")[0] for k in keys if ".downsample." in k})
    assert downsampled == ["layer1.0", "layer2.0", "layer3.0", "layer4.0"]

    # v1.5: the stride sits on the 3x3 conv, not on the first 1x1
    def stride(name: str) -> object:
        return getattr(resnet50.get_submodule(name), "stride", None)

    assert stride("layer2.0.conv1") == (1, 1)
    assert stride("layer2.0.conv2") == (2, 2)
    assert stride("layer2.0.downsample.0") == (2, 2)


def test_default_init_like_torchvision(resnet50: torch.nn.Module) -> None:
    state = resnet50.state_dict()
    assert bool((state["bn1.weight"] == 1).all()) and bool((state["bn1.bias"] == 0).all())
    # kaiming normal, fan_out, relu: std = sqrt(2 / (out_channels * k * k))
    std = float(state["conv1.weight"].std())
    assert std == pytest.approx((2 / (64 * 7 * 7)) ** 0.5, rel=0.1)


def test_seeded_build_is_reproducible() -> None:
    a, b = tiny(seed=3).state_dict(), tiny(seed=3).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_tiny_forward_shape() -> None:
    model = tiny(num_classes=7).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 64, 64))
    assert out.shape == (2, 7)


def test_full_resnet50_round_trip(resnet50: torch.nn.Module, tmp_path: Path) -> None:
    path = save(resnet50.state_dict(), tmp_path / "resnet50.pth")
    torch.manual_seed(1)
    fresh = build_resnet50()
    facts = load_state_dict_file(fresh, path)
    assert facts["n_tensors"] == 320
    assert facts["size_bytes"] == path.stat().st_size
    assert facts["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert facts["path"] == str(path)
    loaded, source = fresh.state_dict(), resnet50.state_dict()
    assert all(torch.equal(loaded[k], source[k]) for k in source)


@pytest.mark.parametrize("wrap", ["plain", "state_dict", "model", "module_prefix"])
def test_wrapped_state_dicts_load(tmp_path: Path, wrap: str) -> None:
    source = tiny(seed=1).state_dict()
    obj: object = source
    if wrap == "state_dict":
        obj = {"state_dict": source, "epoch": 90}
    elif wrap == "model":
        obj = {"model": source}
    elif wrap == "module_prefix":
        obj = OrderedDict((f"module.{k}", v) for k, v in source.items())
    target = tiny(seed=2)
    facts = load_state_dict_file(target, save(obj, tmp_path / "w.pth"))
    assert facts["n_tensors"] == len(source)
    assert all(torch.equal(target.state_dict()[k], v) for k, v in source.items())


def test_old_checkpoint_without_num_batches_tracked(tmp_path: Path) -> None:
    """resnet50-19c8e357.pth predates BatchNorm's num_batches_tracked; it must still load."""
    source = {k: v for k, v in tiny(seed=1).state_dict().items() if "num_batches" not in k}
    target = tiny(seed=2)
    load_state_dict_file(target, save(source, tmp_path / "old.pth"))
    assert torch.equal(target.state_dict()["conv1.weight"], source["conv1.weight"])


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="does not exist") as info:
        load_state_dict_file(tiny(), tmp_path / "nope.pth")
    assert "nope.pth" in str(info.value) and info.value.fix


def test_wrong_shape_names_the_tensor(tmp_path: Path) -> None:
    state = tiny().state_dict()
    state["layer2.0.conv2.weight"] = torch.zeros(16, 16, 1, 1)
    with pytest.raises(ModelError) as info:
        load_state_dict_file(tiny(), save(state, tmp_path / "s.pth"))
    text = str(info.value)
    assert "'layer2.0.conv2.weight'" in text
    assert "(16, 16, 1, 1)" in text and "(16, 16, 3, 3)" in text
    assert "\n" not in text


def test_1001_class_checkpoint_gives_the_hint(tmp_path: Path) -> None:
    path = save(tiny(num_classes=1001).state_dict(), tmp_path / "onnxish.pth")
    with pytest.raises(ModelError, match="1001-class") as info:
        load_state_dict_file(tiny(num_classes=1000), path)
    assert "'fc.weight'" in str(info.value)
    assert "resnet50-19c8e357.pth" in str(info.value)


def test_missing_and_unexpected_keys_are_listed(tmp_path: Path) -> None:
    state = tiny().state_dict()
    for key in [k for k in state if k.startswith("layer4.")]:
        del state[key]
    state["extra.weight"] = torch.zeros(1)
    with pytest.raises(ModelError) as info:
        load_state_dict_file(tiny(), save(state, tmp_path / "k.pth"))
    text = str(info.value)
    assert "missing key" in text and "layer4.0.conv1.weight" in text and "more)" in text
    assert "unexpected key" in text and "extra.weight" in text
    assert "\n" not in text


@pytest.mark.parametrize(
    "obj",
    [torch.zeros(3), [torch.zeros(3)], {}, {"conv1.weight": "not a tensor"}],
    ids=["tensor", "list", "empty", "str-value"],
)
def test_not_a_state_dict(tmp_path: Path, obj: object) -> None:
    with pytest.raises(ModelError, match="not a state dict"):
        load_state_dict_file(tiny(), save(obj, tmp_path / "x.pth"))


def test_pickled_module_needs_weights_only_false(tmp_path: Path) -> None:
    path = save(torch.nn.Linear(2, 2), tmp_path / "module.pth")
    with pytest.raises(ModelError, match="weights_only=False") as info:
        load_state_dict_file(tiny(), path)
    assert "state_dict()" in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("content", [b"", b"certainly not a torch file" * 8])
def test_not_loadable(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "junk.pth"
    path.write_bytes(content)
    with pytest.raises(ModelError, match="not loadable") as info:
        load_state_dict_file(tiny(), path)
    assert "junk.pth" in str(info.value) and "\n" not in str(info.value)
