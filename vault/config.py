"""User settings in TOML (read with tomllib, written with tomli-w).

Settings are addressed by dotted keys such as `ui.autolock_minutes`. Every known key has a
default whose type is the type the file must hold; unknown keys are kept as they are, so a
newer version's settings survive an older one saving the file.
"""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any

from vault.errors import ConfigError
from vault.fsutil import atomic_write, ensure_private_dir, read_small
from vault.paths import config_file

DEFAULTS: dict[str, dict[str, Any]] = {
    "vault": {
        "path": "",  # the vault folder; empty means the default under the user data folder
    },
    "ui": {
        "theme": "textual-dark",
        "autolock_minutes": 10,  # 0 turns auto-lock off
        "sort": "modified",  # modified, created or title
        "preview": "off",  # off, side or only
        "autosave_seconds": 1.0,
    },
    "session": {
        "timeout_minutes": 15.0,  # `vault unlock` ends after this many idle minutes
    },
    "editor": {
        "command": "",  # empty means $VISUAL, then $EDITOR, then vi
    },
    "sync": {
        "remote": "",  # the shared sync folder for vaults that name none (`vault remote set`)
        "auto": True,  # the terminal app syncs in the background
        "interval_seconds": 300,  # ... every this often (0: only after saves and on demand)
        "debounce_seconds": 5.0,  # ... and this long after the last save
        "watch_seconds": 2.0,  # ... and this soon after another device writes (0: off)
    },
    "notes": {
        "templates_notebook": "Templates",  # notes in this notebook (path) are templates
        "journal_notebook": "Journal",  # where `vault today` keeps the daily notes
        "daily_title_format": "%Y-%m-%d",  # strftime format of a daily note's title
        "daily_template": "Daily",  # the template a new daily note starts from, if it exists
    },
    "backup": {
        "dir": "",  # automatic backups go here; empty means the default under the data folder
        "interval_hours": 24.0,  # a backup when the vault is opened this long after the last
        "on_quit": True,  # a backup when the terminal app quits with unsaved-to-backup changes
        "keep_daily": 7,  # automatic backups kept: the newest of each of the last N days...
        "keep_weekly": 4,  # ...and of each of the last N weeks
    },
}


class Config:
    def __init__(self, path: Path, data: dict[str, Any]) -> None:
        self.path = path
        self.data = data

    @staticmethod
    def load(path: Path | None = None) -> Config:
        path = path or config_file()
        try:
            raw = read_small(path)
        except FileNotFoundError:
            return Config(path, {})
        except OSError as exc:
            raise ConfigError(f"cannot read config {path}: {exc.strerror}") from None
        except ValueError:  # a FIFO or a device in its place, or megabytes
            raise ConfigError(f"config {path} is not a regular file of at most 1 MiB") from None
        try:
            data = tomllib.loads(raw.decode("utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"config {path} is not valid TOML: {exc}") from None
        config = Config(path, data)
        for section, values in DEFAULTS.items():
            for key in values:
                config.get(f"{section}.{key}")  # type-check now, not deep inside the app
        return config

    def get(self, key: str) -> Any:
        section, name = _split(key)
        default = _default(section, name)
        value = self.data.get(section, {}).get(name, default)
        if default is not None and not _same_type(value, default):
            raise ConfigError(
                f"config {self.path}: {key} should be {_type_name(default)}, not {value!r}"
            )
        return value

    def set(self, key: str, value: Any) -> None:
        section, name = _split(key)
        default = _default(section, name)
        if isinstance(value, str) and default is not None and not isinstance(default, str):
            value = _parse(key, value, default)
        if default is not None and not _same_type(value, default):
            raise ConfigError(f"{key} should be {_type_name(default)}")
        self.data.setdefault(section, {})[name] = value

    def unset(self, key: str) -> None:
        section, name = _split(key)
        self.data.get(section, {}).pop(name, None)

    def effective(self) -> dict[str, dict[str, Any]]:
        """Defaults overlaid with the file: what the program actually uses."""
        merged = copy.deepcopy(DEFAULTS)
        for section, values in self.data.items():
            if isinstance(values, dict):
                merged.setdefault(section, {}).update(values)
        return merged

    def save(self) -> None:
        ensure_private_dir(self.path.parent)
        import tomli_w  # only when saving: most commands only read the settings

        atomic_write(self.path, tomli_w.dumps(self.data).encode("utf-8"))


def _split(key: str) -> tuple[str, str]:
    section, dot, name = key.partition(".")
    if not dot or not section or not name:
        raise ConfigError(f"config keys look like section.name (for example ui.theme), not {key!r}")
    return section, name


def _default(section: str, name: str) -> Any:
    if section in DEFAULTS and name not in DEFAULTS[section]:
        known = ", ".join(f"{section}.{k}" for k in DEFAULTS[section])
        raise ConfigError(f"unknown setting {section}.{name}; known: {known}")
    return DEFAULTS.get(section, {}).get(name)


def _same_type(value: Any, default: Any) -> bool:
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, int | float) and not isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, type(default))


def _type_name(default: Any) -> str:
    return {bool: "true or false", int: "a whole number", float: "a number", str: "text"}.get(
        type(default), type(default).__name__
    )


def _parse(key: str, text: str, default: Any) -> Any:
    try:
        if isinstance(default, bool):
            lowered = text.strip().lower()
            if lowered in ("true", "yes", "on", "1"):
                return True
            if lowered in ("false", "no", "off", "0"):
                return False
            raise ValueError
        if isinstance(default, float):
            return float(text)
        if isinstance(default, int):
            return int(text)
    except ValueError:
        raise ConfigError(f"{key} should be {_type_name(default)}, not {text!r}") from None
    return text
