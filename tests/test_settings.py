"""Settings: parsed once, invalid values reported and replaced by defaults."""

from __future__ import annotations

from dataclasses import fields

from dw_lsp.settings import (
    KEYS,
    RAY_SETTINGS,
    USER_ONLY_KEYS,
    Settings,
    parse_settings,
    workspace_refusal,
)


def test_every_setting_has_a_client_name():
    assert {f.name for f in fields(Settings)} == set(KEYS.values())


def test_nested_and_dotted_forms_are_equivalent():
    nested, m1 = parse_settings({"run": {"timeout": 12}, "worker": {"prewarm": False}})
    dotted, m2 = parse_settings({"run.timeout": 12, "worker.prewarm": False})
    assert nested == dotted
    assert nested.run_timeout == 12.0 and nested.worker_prewarm is False
    assert m1 == m2 == []


def test_invalid_values_keep_defaults_with_a_message():
    settings, messages = parse_settings(
        {"run.timeout": -1, "logLevel": "loud", "worker": {"command": []}, "bogus": 1}
    )
    assert settings == Settings()
    assert len(messages) == 4
    assert any("dwLsp.run.timeout" in m and "positive" in m for m in messages)
    assert any("dwLsp.bogus" in m and "unknown" in m for m in messages)


def test_not_an_object():
    settings, messages = parse_settings(["x"])  # type: ignore[arg-type]
    assert settings == Settings() and messages


def test_base_is_kept_for_unset_keys():
    base, _ = parse_settings({"outputDir": "/tmp/o"})
    updated, _ = parse_settings({"logLevel": "debug"}, base)
    assert (updated.output_dir, updated.log_level) == ("/tmp/o", "DEBUG")


def test_stand_ins_are_off_unless_asked_for():
    assert Settings().worker_stand_ins == "off"
    for mode in ("off", "missing", "all"):
        settings, messages = parse_settings({"worker": {"standIns": mode}})
        assert (settings.worker_stand_ins, messages) == (mode, [])
    settings, messages = parse_settings({"worker.standIns": "sometimes"})
    assert settings.worker_stand_ins == "off"
    assert messages == ["dwLsp.worker.standIns: expected one of off, missing, all; using 'off'"]


def test_the_ray_pool_settings_nested_as_clients_send_them():
    settings, messages = parse_settings(
        {
            "worker": {
                "backend": "Ray",
                "ray": {"address": "ray://head:10001", "workers": 4, "resources": {"GPU": 1}},
            }
        }
    )
    assert messages == []
    assert settings.worker_backend == "ray"
    assert settings.worker_ray_address == "ray://head:10001"
    assert settings.worker_ray_workers == 4
    assert settings.worker_ray_resources == {"GPU": 1.0}
    assert parse_settings({"worker.ray.address": "auto"})[0].worker_ray_address == "auto"
    assert Settings().worker_backend == "local"


def test_invalid_ray_pool_settings_keep_defaults_with_a_message():
    settings, messages = parse_settings(
        {
            "worker.backend": "slurm",
            "worker.ray.address": "head node",
            "worker.ray.workers": 0,
            "worker.ray.resources": {"GPU": -1},
        }
    )
    assert settings == Settings()
    assert len(messages) == 4
    assert any("worker.backend" in m and "local, ray" in m for m in messages)
    assert any("worker.ray.workers" in m and "1 to 64" in m for m in messages)
    assert any("worker.ray.resources" in m and '{"GPU": 1}' in m for m in messages)


def test_allow_remote_code_is_a_strict_boolean_and_off_by_default():
    assert Settings().worker_allow_remote_code is False
    on, messages = parse_settings({"worker": {"allowRemoteCode": True}})
    assert on.worker_allow_remote_code is True and messages == []
    kept, messages = parse_settings({"worker.allowRemoteCode": "yes"})
    assert kept.worker_allow_remote_code is False
    assert messages == ["dwLsp.worker.allowRemoteCode: expected true or false; using False"]


def test_user_only_keys_are_declared_and_exist():
    assert {"worker.command", "worker.allowedModules", "worker.allowRemoteCode"} <= USER_ONLY_KEYS
    assert set(RAY_SETTINGS) <= USER_ONLY_KEYS  # a Ray cluster exchanges pickled data with us
    assert set(KEYS) >= USER_ONLY_KEYS


def test_a_workspace_cannot_choose_the_ray_pool():
    options = {"worker": {"backend": "ray", "ray": {"address": "ray://evil:10001", "workers": 8}}}
    settings, messages = parse_settings(options, Settings(), scope="workspace")
    assert settings == Settings()
    assert messages == [
        workspace_refusal("worker.backend"),
        workspace_refusal("worker.ray.address"),
        workspace_refusal("worker.ray.workers"),
    ]
    assert parse_settings(options)[0].worker_ray_address == "ray://evil:10001"  # the user may


def test_a_workspace_cannot_set_user_only_keys():
    user, _ = parse_settings({"worker": {"command": ["mine"], "allowedModules": ["x"]}})
    options = {
        "worker": {"command": ["evil"], "allowedModules": ["os"], "allowRemoteCode": True},
        "outputDir": "elsewhere",
    }
    settings, messages = parse_settings(options, user, scope="workspace")
    assert settings.worker_command == ["mine"] and settings.worker_allowed_modules == ["x"]
    assert settings.output_dir == "elsewhere"  # ordinary settings still apply
    assert messages == [
        workspace_refusal("worker.command"),
        workspace_refusal("worker.allowedModules"),
        workspace_refusal("worker.allowRemoteCode"),
    ]
    assert all("ignored in workspace settings" in m for m in messages)
    # The same keys from the user (the default scope) apply.
    applied, _ = parse_settings(options, user)
    assert applied.worker_command == ["evil"] and applied.worker_allowed_modules == ["os"]


def test_a_workspace_echoing_the_users_value_is_silent():
    user, _ = parse_settings({"worker": {"command": ["mine"]}})
    echoed = {"worker": {"command": ["mine"], "allowedModules": []}, "logLevel": "debug"}
    settings, messages = parse_settings(echoed, user, scope="workspace")
    assert messages == [] and settings.log_level == "DEBUG"
    _, invalid = parse_settings({"worker.command": 5}, user, scope="workspace")
    assert invalid == [workspace_refusal("worker.command")]
