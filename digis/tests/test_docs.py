"""Docs stay true: every environment variable settings or `make run` read is in the README table."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The system's own variables the scripts read, not Digis configuration.
NOT_OURS = {"TMPDIR"}


def _script_variables() -> set[str]:
    """Variables `make run` (scripts/serve.sh and its companions) reads with a default."""
    scripts = [ROOT / "scripts" / "serve.sh", *sorted((ROOT / "scripts" / "run.d").glob("*.sh"))]
    found = set()
    for script in scripts:
        found |= set(re.findall(r"\$\{([A-Z][A-Z0-9_]+):-", script.read_text()))
    return found - NOT_OURS


def test_every_setting_variable_is_documented_in_the_readme():
    settings_source = (ROOT / "digis" / "settings.py").read_text()
    used = set(re.findall(r'env(?:\.\w+)?\(\s*"([A-Z][A-Z0-9_]+)"', settings_source))
    assert used, "no variables found: has the settings style changed?"
    used |= _script_variables()
    readme = (ROOT / "README.md").read_text()
    documented = set(re.findall(r"^\| `([A-Z][A-Z0-9_]+)` \|", readme, flags=re.MULTILINE))
    assert sorted(used - documented) == [], "add these to the README's configuration table"
    assert sorted(documented - used) == [], "the README documents variables settings no longer read"


def test_make_run_reads_its_ports():
    assert {"PORT", "LOCALSTRIPE_PORT", "SITE_URL"} <= _script_variables()


def test_the_readme_links_only_files_a_clone_has():
    readme = (ROOT / "README.md").read_text()
    for target in re.findall(r"\]\(([^)#]+)\)", readme) + re.findall(r"`((?:\.\./|docs/)[^`\s]+\.md)`", readme):
        if target.startswith(("http://", "https://")):
            continue
        assert (ROOT / target).exists(), f"README.md points at {target}, which a clone does not have"
