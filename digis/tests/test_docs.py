"""Docs stay true: every environment variable settings read is in the README table."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_setting_variable_is_documented_in_the_readme():
    settings_source = (ROOT / "digis" / "settings.py").read_text()
    used = set(re.findall(r'env(?:\.\w+)?\(\s*"([A-Z][A-Z0-9_]+)"', settings_source))
    readme = (ROOT / "README.md").read_text()
    documented = set(re.findall(r"^\| `([A-Z][A-Z0-9_]+)` \|", readme, flags=re.MULTILINE))
    assert used, "no variables found: has the settings style changed?"
    assert sorted(used - documented) == [], "add these to the README's configuration table"
    assert sorted(documented - used) == [], "the README documents variables settings no longer read"
