"""Settings: parsed once, invalid values reported and replaced by defaults."""

from __future__ import annotations

from dataclasses import fields

from dw_lsp.settings import KEYS, Settings, parse_settings


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
