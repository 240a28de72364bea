"""Config: typed settings in TOML, unknown keys preserved, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from vault.config import Config
from vault.errors import ConfigError


def test_defaults_set_save_and_reload(tmp_path: Path) -> None:
    path = tmp_path / "c" / "config.toml"
    config = Config.load(path)
    assert config.get("ui.autolock_minutes") == 10
    config.set("ui.autolock_minutes", "5")
    config.set("ui.theme", "nord")
    config.data["future"] = {"thing": 1}
    config.save()
    again = Config.load(path)
    assert again.get("ui.autolock_minutes") == 5 and again.get("ui.theme") == "nord"
    assert again.data["future"] == {"thing": 1}


def test_bad_toml_and_bad_types(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[ui\nbroken")
    with pytest.raises(ConfigError, match="not valid TOML"):
        Config.load(path)
    path.write_text('[ui]\nautolock_minutes = "ten"\n')
    with pytest.raises(ConfigError, match="whole number"):
        Config.load(path)
    config = Config(path, {})
    with pytest.raises(ConfigError, match="unknown setting"):
        config.set("ui.nope", "1")
    with pytest.raises(ConfigError, match=r"section\.name"):
        config.get("theme")
