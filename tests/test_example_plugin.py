"""The plugin guide's complete example is installed (as pip would: module + dist-info) and run."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import model_free_config

GUIDE = Path(__file__).parent.parent / "docs" / "plugins.md"
MEMMIMIC = Path(sys.executable).parent / "memmimic"


def example_source() -> str:
    text = GUIDE.read_text()
    match = re.search(r"<!-- example-plugin: memmimic_synonyms.py -->\n```python\n(.*?)```", text, re.S)
    assert match, "docs/plugins.md lost its example plugin"
    return match.group(1)


@pytest.fixture
def installed_example(tmp_path: Path) -> Path:
    """Install the example into a fresh site dir the way pip lays out a wheel."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "memmimic_synonyms.py").write_text(example_source())
    info = site / "memmimic_synonyms-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: memmimic-synonyms\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text("[memmimic]\nsynonyms = memmimic_synonyms\n")
    (info / "RECORD").write_text("")
    return site


def env_with(site: Path, home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(site), env.get("PYTHONPATH", "")])
    env["MEMMIMIC_HOME"] = str(home)
    env.pop("MEMMIMIC_CONFIG", None)
    return env


def test_example_is_under_fifty_lines() -> None:
    assert len(example_source().strip().splitlines()) < 50


def test_installed_example_is_listed_by_the_cli(installed_example: Path, tmp_path: Path) -> None:
    out = subprocess.run(
        [str(MEMMIMIC), "plugins", "--json"],
        env=env_with(installed_example, tmp_path / "home"),
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    plugins = {p["name"]: p for p in json.loads(out.stdout)}
    assert plugins["synonyms"]["distribution"] == "memmimic-synonyms"
    assert plugins["synonyms"]["version"] == "0.1.0"
    assert plugins["synonyms"]["backends"] == {"expander": ["synonyms"]}


def test_installed_example_expands_recall(installed_example: Path, tmp_path: Path) -> None:
    config = model_free_config(
        tmp_path / "store",
        expanders=[{"backend": "synonyms", "synonyms": {"car": ["automobile"]}, "weight": 0.6}],
        vector_index={"backend": "numpy"},
    )
    script = textwrap.dedent(
        f"""
        import json
        from memmimic_core.engine import MemMimic
        with MemMimic({config!r}) as m:
            m.remember("The automobile is parked in the garage")
            m.remember("Bread and butter for breakfast")
            hits = m.recall("where is my car", limit=1, sources=["expansion"])
            print(json.dumps([[h.memory.content, sorted(h.sources)] for h in hits]))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        env=env_with(installed_example, tmp_path / "home"),
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert json.loads(out.stdout) == [["The automobile is parked in the garage", ["expansion"]]]


def test_installed_example_passes_its_contract_suite(installed_example: Path, tmp_path: Path) -> None:
    test_file = tmp_path / "test_synonyms_contract.py"
    test_file.write_text(
        textwrap.dedent(
            """
            import pytest
            from memmimic_core.testing.expander import ExpanderContract
            from memmimic_synonyms import SynonymExpander


            class TestSynonyms(ExpanderContract):
                @pytest.fixture
                def expander(self):
                    return SynonymExpander(SynonymExpander.Options(synonyms={"car": ["automobile"]}))
            """
        )
    )
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(test_file)],
        env=env_with(installed_example, tmp_path / "home"),
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert " passed" in result.stdout
