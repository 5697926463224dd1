"""Layer profiles of the model zoo (ns6g.learners.profiles, ns6g.learners.models)."""

from pathlib import Path

import pandas as pd
import pytest
import torch

import ns6g.ns3_scenarios
from ns6g.learners import profiles
from ns6g.learners import models

SHIPPED = Path(ns6g.ns3_scenarios.__file__).parent / "mec" / "profiles"
NAMES = list(models.MODELS)


@pytest.fixture(scope="module")
def fp32() -> dict[str, pd.DataFrame]:
    return {name: profiles.profile_model(name, "fp32") for name in NAMES}


@pytest.fixture(scope="module")
def int8() -> dict[str, pd.DataFrame]:
    return {name: profiles.profile_model(name, "int8") for name in NAMES}


def test_zoo_models_are_sequential_of_named_blocks():
    for name in NAMES:
        model = models.build_model(name).eval()
        assert isinstance(model, torch.nn.Sequential)
        assert all(not key.isdigit() for key, _ in model.named_children())
        x = models.example_input(name)
        assert tuple(x.shape) == models.input_shape(name)
        assert x.dtype == models.input_dtype(name)
        with torch.no_grad():
            assert model(x).shape == (1, models.model_kwargs(name)["num_classes"])


def test_small_cnn_flops_match_hand_count(fp32):
    conv1 = 2 * 1 * 16 * 9 * 28 * 28  # 2 * Cin * Cout * 3*3 * H * W
    conv2 = 2 * 16 * 32 * 9 * 14 * 14
    fc1 = 2 * (32 * 7 * 7) * 128
    fc2 = 2 * 128 * 10
    df = fp32["small_cnn"].set_index("layer")
    assert df.loc["conv1", "device_flops"] == conv1
    assert df.loc["conv2", "device_flops"] == conv1 + conv2
    assert df.loc["fc2", "device_flops"] == conv1 + conv2 + fc1 + fc2
    assert profiles.model_flops("small_cnn") == conv1 + conv2 + fc1 + fc2


def test_conv_flops_for_other_shapes():
    df = profiles.profile_model("small_cnn", in_channels=3, image_size=32)
    assert df.loc[1, "device_flops"] == 2 * 3 * 16 * 9 * 32 * 32
    assert df.loc[0, "transfer_bytes"] == 3 * 32 * 32 * 4


@pytest.mark.parametrize("name", NAMES)
def test_flops_split_and_monotone(fp32, name):
    df = fp32[name]
    total = profiles.model_flops(name)
    assert total > 0
    assert list(df["cut"]) == list(range(len(df)))
    assert len(df) == len(list(models.build_model(name).children())) + 1
    assert df.loc[0, "layer"] == "input"
    assert ((df["device_flops"] + df["server_flops"]) == total).all()
    assert df["device_flops"].is_monotonic_increasing
    assert df.loc[0, "device_flops"] == 0 and df["server_flops"].iloc[-1] == 0
    n_params = sum(p.numel() for p in models.build_model(name).parameters())
    assert ((df["device_param_bytes"] + df["server_param_bytes"]) == 4 * n_params).all()
    assert (df["device_memory_bytes"] >= df["device_param_bytes"]).all()


@pytest.mark.parametrize("name", NAMES)
def test_int8_bytes(fp32, int8, name):
    a, b = fp32[name], int8[name]
    assert (a["device_flops"] == b["device_flops"]).all()
    for col in ("device_param_bytes", "server_param_bytes"):
        assert (a[col] == 4 * b[col]).all()
    assert (a["transfer_bytes"].iloc[1:] == 4 * b["transfer_bytes"].iloc[1:]).all()


def test_transfer_at_cut_zero_is_input(fp32, int8):
    assert fp32["small_cnn"].loc[0, "transfer_bytes"] == 28 * 28 * 4  # float32 image
    assert int8["small_cnn"].loc[0, "transfer_bytes"] == 28 * 28  # uint8 image
    for name in NAMES:
        x = models.example_input(name)
        assert fp32[name].loc[0, "transfer_bytes"] == x.numel() * x.element_size()
    for df in (fp32["small_transformer"], int8["small_transformer"]):
        assert df.loc[0, "transfer_bytes"] == 64 * 8  # int64 token ids either way
    assert fp32["resnet18_style"]["transfer_bytes"].iloc[-1] == 10 * 4  # logits sent back


def test_activation_grows_then_shrinks(fp32):
    t = fp32["small_cnn"].set_index("layer")["transfer_bytes"]
    assert t["conv1"] > t["input"]  # cutting right after the first conv costs more than the input
    assert t["fc1"] < t["input"]  # cutting late costs less


def test_round_trip(tmp_path):
    df = profiles.profile_model("mobilenet_v2_style", "int8")
    path = profiles.write_profile(df, tmp_path / "p.csv")
    lines = path.read_text().splitlines()
    assert lines[:4] == [
        "# model=mobilenet_v2_style",
        "# dtype=int8",
        "# input_shape=1x3x32x32",
        "# ns6g-profile-version=1",
    ]
    assert lines[4] == ",".join(profiles.COLUMNS)
    back = profiles.read_profile(path)
    pd.testing.assert_frame_equal(back, df)
    assert back.attrs["model"] == "mobilenet_v2_style" and back.attrs["dtype"] == "int8"


def test_read_profile_rejects_bad_files(tmp_path, fp32):
    path = profiles.write_profile(fp32["small_cnn"], tmp_path / "p.csv")
    text = path.read_text()
    (tmp_path / "v.csv").write_text(text.replace("version=1", "version=9"))
    with pytest.raises(ValueError, match="version"):
        profiles.read_profile(tmp_path / "v.csv")
    (tmp_path / "c.csv").write_text(text.replace("transfer_bytes", "tx_bytes"))
    with pytest.raises(ValueError, match="columns"):
        profiles.read_profile(tmp_path / "c.csv")


def test_shipped_profiles_are_current(tmp_path):
    written = profiles.export_all(tmp_path)
    assert sorted(p.name for p in written) == sorted(p.name for p in SHIPPED.glob("*.csv"))
    assert len(written) == 2 * len(NAMES)
    for path in written:
        assert path.read_bytes() == (SHIPPED / path.name).read_bytes(), (
            f"{path.name} is stale: regenerate with python -m ns6g.learners.profiles {SHIPPED}"
        )


def test_unknown_names_refused():
    with pytest.raises(ValueError, match="unknown model 'vgg16'.*resnet18_style.*small_cnn"):
        models.build_model("vgg16")
    with pytest.raises(ValueError, match="unknown model 'vgg16'.*small_transformer"):
        profiles.profile_model("vgg16")
    with pytest.raises(ValueError, match="unknown model"):
        models.input_shape("vgg16")
    with pytest.raises(ValueError, match="unknown dtype 'fp16'.*fp32.*int8"):
        profiles.profile_model("small_cnn", "fp16")
    with pytest.raises(ValueError, match="does not take depth"):
        models.build_model("small_cnn", depth=3)


def test_main_calls_export_all(tmp_path, monkeypatch, capsys):
    seen = []
    def fake_export_all(folder):
        seen.append(folder)
        return [Path(folder) / "x.csv"]

    monkeypatch.setattr(profiles, "export_all", fake_export_all)
    assert profiles.main([str(tmp_path)]) == 0
    assert seen == [str(tmp_path)]
    assert "x.csv" in capsys.readouterr().out
