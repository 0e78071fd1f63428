"""What hassfest and HACS check, checked here too: manifest, strings, icons, services."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from custom_components.bess.sensor import SENSORS
from custom_components.bess.switch import AUTO_CONTROL

ROOT = Path(__file__).parents[1]
COMPONENT = ROOT / "custom_components" / "bess"


def _json(path: Path) -> dict:  # type: ignore[type-arg]
    return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def test_manifest_has_the_required_keys_in_hassfest_order() -> None:
    manifest = _json(COMPONENT / "manifest.json")
    keys = list(manifest)
    assert keys[:2] == ["domain", "name"]
    assert keys[2:] == sorted(keys[2:])
    assert manifest["domain"] == "bess"
    assert manifest["config_flow"] is True
    assert manifest["iot_class"] == "calculated"
    assert manifest["integration_type"] == "service"
    assert manifest["after_dependencies"] == ["frontend", "http", "recorder"]
    for key in ("codeowners", "documentation", "issue_tracker", "version"):
        assert manifest[key]


def test_hacs_manifest() -> None:
    hacs = _json(ROOT / "hacs.json")
    assert hacs["name"]
    assert hacs["homeassistant"] == "2025.4.0"
    # HACS installs exactly one integration from custom_components/.
    assert [p.name for p in (ROOT / "custom_components").iterdir() if p.is_dir()] == ["bess"]


def test_every_entity_has_a_name_and_an_icon() -> None:
    strings = _json(COMPONENT / "translations" / "en.json")["entity"]
    icons = _json(COMPONENT / "icons.json")["entity"]
    for description in SENSORS:
        key = description.translation_key
        assert strings["sensor"][key]["name"], key
        assert icons["sensor"][key]["default"].startswith("mdi:"), key
        for option in description.options or []:
            assert strings["sensor"][key]["state"][option], (key, option)
    assert strings["switch"][AUTO_CONTROL.translation_key]["name"]
    assert set(icons["sensor"]) == {d.translation_key for d in SENSORS}


def test_every_service_and_field_is_described() -> None:
    services = yaml.safe_load((COMPONENT / "services.yaml").read_text(encoding="utf-8"))
    strings = _json(COMPONENT / "translations" / "en.json")["services"]
    icons = _json(COMPONENT / "icons.json")["services"]
    assert set(services) == set(strings) == set(icons)
    for name, service in services.items():
        assert strings[name]["name"]
        assert strings[name]["description"]
        assert set(service["fields"]) == set(strings[name]["fields"])
        for field in strings[name]["fields"].values():
            assert field["name"]
            assert field["description"]


def test_brand_icon_is_256_square() -> None:
    data = (COMPONENT / "brand" / "icon.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width = int.from_bytes(data[16:20], "big")
    height = int.from_bytes(data[20:24], "big")
    assert (width, height) == (256, 256)
