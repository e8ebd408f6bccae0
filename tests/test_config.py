import pytest

from ganart.config import ModelConfig


def test_default_config_is_valid_and_64px():
    cfg = ModelConfig()
    assert cfg.resolution == 64
    assert cfg.num_ws == 10
    assert cfg.resolutions == [4, 8, 16, 32, 64]


@pytest.mark.parametrize(
    "field, value",
    [
        ("resolution", 48),
        ("resolution", -64),
        ("resolution", 8),
        ("resolution", 1024),
        ("resolution", 64.0),
        ("z_dim", 0),
        ("w_dim", -1),
        ("mapping_layers", 0),
        ("channel_max", 0),
        ("mapping_lr_mul", 0.0),
        ("mapping_lr_mul", float("nan")),
        ("use_noise", "yes"),
    ],
)
def test_invalid_values_name_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        ModelConfig(**{field: value})


@pytest.mark.parametrize(
    "value, message",
    [
        ((256, 128), "g_channels needs one width per level \\(5: 4 px to 64 px\\), got 2"),
        ((256, 128, 0, 32, 16), "g_channels at 16 px must be in \\[1, 4096\\], got 0"),
        ((256, 128, 64.0, 32, 16), "g_channels at 16 px must be an integer, got 64.0"),
        ("256,128,64,32,16", "g_channels must be a list of integers"),
    ],
)
def test_invalid_g_channels_name_the_level(value, message):
    with pytest.raises(ValueError, match=message):
        ModelConfig(g_channels=value)


def test_g_channels_set_g_widths_level_by_level_and_survive_json():
    import json

    cfg = ModelConfig(channel_max=256, d_channel_max=128, g_channels=(256, 256, 64, 32, 16))
    assert [cfg.channels(r) for r in cfg.resolutions] == [256, 256, 64, 32, 16]
    assert [cfg.d_channels(r) for r in cfg.resolutions] == [128, 128, 64, 32, 16]  # D keeps the formula
    assert ModelConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg  # JSON lists come back as tuples


def test_absurd_model_size_is_refused_before_allocation():
    # ~billions of parameters: must fail fast from arithmetic alone
    with pytest.raises(ValueError, match="parameters"):
        ModelConfig(resolution=512, channel_base=1 << 20, channel_max=4096, w_dim=4096)


def test_param_count_matches_real_model():
    from ganart.models import Generator

    for cfg in [ModelConfig(), ModelConfig(resolution=32, channel_max=64, use_noise=False),
                ModelConfig(resolution=16, g_channels=(48, 96, 24))]:
        real = sum(p.numel() for p in Generator(cfg).parameters())
        assert cfg.generator_params() == real


def test_from_dict_round_trip_and_unknown_keys():
    cfg = ModelConfig(resolution=32)
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown model config keys: bogus"):
        ModelConfig.from_dict({**cfg.to_dict(), "bogus": 1})


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(w_dim=64), "only channel widths can change; w_dim 32 -> 64"),
        (dict(resolution=32), "only channel widths can change; resolution 16 -> 32"),
        (dict(channel_base=128, channel_min=8), "G at 8x8 would go from 32 to 16 channels; it must at least keep 32"),
        (dict(channel_max=64, channel_base=512), "D at 4x4 would go from 32 to 64 channels; it must keep 32"),
        (dict(d_channel_base=128, channel_min=8), "D at 8x8 would go from 32 to 16 channels; it must at least keep 32"),
        (dict(g_channels=(32, 64, 8), channel_min=8), "G at 16x16 would go from 16 to 8 channels; it must at least keep 16"),
    ],
)
def test_growth_problem_names_what_cannot_grow(change, message):
    from conftest import tiny_config

    assert tiny_config().growth_problem(tiny_config(**change)) == message


def test_growth_allows_wider_layers_above_4px_and_the_same_shape():
    from conftest import tiny_config

    base = tiny_config()
    assert base.growth_problem(base) is None
    assert base.growth_problem(tiny_config(channel_base=512, mbstd_group=2)) is None
    assert base.growth_problem(tiny_config(channel_min=32)) is None
    # G's 4x4 level may grow while D's stays pinned
    assert base.growth_problem(tiny_config(channel_max=64, channel_base=512, d_channel_max=32)) is None
    assert base.growth_problem(tiny_config(g_channels=(32, 64, 16))) is None  # one middle level only
