"""e2e_tutorial.config: the mode switch and the settings it selects."""

import dataclasses

import pytest

from e2e_tutorial import config

SIZE_KNOBS = [f.name for f in dataclasses.fields(config.Settings) if f.name not in ("mode", "seed")]


@pytest.mark.parametrize("value", ["1", "true", "YES", " on "])
def test_fast_values_select_fast_mode(monkeypatch, value):
    monkeypatch.setenv(config.FAST_ENV, value)
    assert config.fast_mode() and config.current() is config.FAST


@pytest.mark.parametrize("value", ["", "0", "false", "No", "off"])
def test_other_values_select_full_mode(monkeypatch, value):
    monkeypatch.setenv(config.FAST_ENV, value)
    assert not config.fast_mode() and config.current() is config.FULL


def test_unset_means_full_mode(monkeypatch):
    monkeypatch.delenv(config.FAST_ENV, raising=False)
    assert config.current().mode == "full"


def test_a_typo_is_an_error_not_full_mode(monkeypatch):
    monkeypatch.setenv(config.FAST_ENV, "ture")
    with pytest.raises(ValueError, match=r"E2E_FAST='ture' is not understood"):
        config.current()


@pytest.mark.parametrize("name", SIZE_KNOBS)
def test_fast_mode_never_asks_for_more_than_full_mode(name):
    fast, full = getattr(config.FAST, name), getattr(config.FULL, name)
    if name in ("image_downsample", "event_image_downsample"):  # larger factor, smaller images
        assert fast >= full >= 1
        assert 170 % fast == 0 and 360 % fast == 0, "the factor must divide the 170 x 360 grid"
    else:
        assert 0 < fast <= full


def test_show_prints_mode_and_named_settings(monkeypatch, capsys):
    monkeypatch.setenv(config.FAST_ENV, "1")
    cfg = config.show("epochs_fcn", "seed")
    out = capsys.readouterr().out
    assert cfg is config.FAST
    assert out.startswith("Mode: fast")
    assert f"epochs_fcn           = {config.FAST.epochs_fcn}" in out
    assert f"full mode: {config.FULL.epochs_fcn}" in out
    assert "batch_size" not in out  # only what the notebook named


def test_show_rejects_unknown_setting(monkeypatch):
    monkeypatch.delenv(config.FAST_ENV, raising=False)
    with pytest.raises(ValueError, match=r"unknown setting\(s\) \['epochs'\]"):
        config.show("epochs")


def test_settings_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.FULL.epochs_fcn = 1
