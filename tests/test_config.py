"""Config: defaults, YAML, environment overrides, and errors that name key, value and remedy."""

from __future__ import annotations

from pathlib import Path

import pytest

from memmimic_core.config import MemMimicConfig, env_overrides, load_config
from memmimic_core.errors import ConfigError


def test_every_key_has_a_default(tmp_path: Path) -> None:
    config = load_config({}, environ={"MEMMIMIC_HOME": str(tmp_path)})
    assert config.data_dir == tmp_path
    assert config.storage.backend == "sqlite"
    assert config.memory.max_content_bytes == 1_000_000


def test_yaml_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "memmimic.yaml"
    path.write_text("namespace: work\nstorage:\n  backend: sqlite\n  pool_size: 7\n")
    config = load_config(path, environ={})
    assert config.namespace == "work"
    assert config.storage.options == {"pool_size": 7}


def test_config_env_variable_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("namespace: from-env\n")
    assert load_config(None, environ={"MEMMIMIC_CONFIG": str(path)}).namespace == "from-env"


def test_environment_overrides_nested_keys() -> None:
    env = {"MEMMIMIC_STORAGE__POOL_SIZE": "10", "MEMMIMIC_PERFORMANCE__METRICS": "false"}
    config = load_config({}, environ=env)
    assert config.storage.options["pool_size"] == 10
    assert config.performance.metrics is False


def test_environment_ignores_non_config_variables() -> None:
    assert env_overrides({"MEMMIMIC_DISABLE_PLUGINS": "x", "MEMMIMIC_HOME": "/tmp", "OTHER": "1"}) == {}


def test_invalid_yaml_reports_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("storage:\n  backend: sqlite\n  pool_size: [1, 2\n")
    with pytest.raises(ConfigError, match=r"line \d+, column \d+"):
        load_config(path, environ={})


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml", environ={})


def test_non_mapping_yaml_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_config(path, environ={})


def test_bad_value_names_key_path_and_value() -> None:
    with pytest.raises(ConfigError) as info:
        load_config({"performance": {"overfetch": 0}}, environ={})
    message = str(info.value)
    assert "performance.overfetch" in message
    assert "got 0" in message


def test_unknown_key_lists_allowed_keys() -> None:
    with pytest.raises(ConfigError) as info:
        load_config({"memory": {"max_bytes": 5}}, environ={})
    assert "memory.max_bytes: unknown key" in str(info.value)
    assert "max_content_bytes" in str(info.value)


def test_backend_shorthand_and_expander_list() -> None:
    config = load_config({"storage": "postgresql", "expanders": ["none"]}, environ={})
    assert config.storage.backend == "postgresql"
    assert [e.backend for e in config.expanders] == ["none"]


def test_fingerprint_changes_with_recall_relevant_keys_only(tmp_path: Path) -> None:
    a = load_config({"data_dir": str(tmp_path / "a")}, environ={})
    b = load_config({"data_dir": str(tmp_path / "b")}, environ={})
    c = load_config({"data_dir": str(tmp_path / "a"), "ranker": {"backend": "rrf"}}, environ={})
    assert a.fingerprint() == b.fingerprint()
    assert a.fingerprint() != c.fingerprint()


def test_to_dict_round_trips(tmp_path: Path) -> None:
    config = load_config(
        {"data_dir": str(tmp_path), "storage": {"backend": "sqlite", "pool_size": 3}}, environ={}
    )
    again = MemMimicConfig.model_validate(config.to_dict())
    assert again == config
