"""The documents keep their promises: every section the README or the plugin guide sends a
reader to exists, and every public name is documented."""
import re
from pathlib import Path

import zoo
import zoo.testing

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", ROOT / "docs" / "plugins.md"]
#: 'see "Fair tuning"', "see the README's \"Fair tuning\"", '"Fair tuning" below'
REFERENCE = re.compile(r"""see (?:the README's )?["']([^"'\n]{3,60})["']"""
                       r"""|["']([A-Z][^"'\n]{2,60})["'] (?:below|above)""")


def headings(text: str) -> set:
    return {m.group(1).strip() for m in re.finditer(r"^#+ +(.+)$", text, re.M)}


def references(text: str) -> set:
    return {a or b for a, b in REFERENCE.findall(text.replace("\n", " "))}


def test_the_reference_pattern_finds_what_readers_are_sent_to():
    text = 'one (see "Fair tuning") and\nsee the README\'s\n"Plugins" and "How models are\ncompared" below'
    assert references(text) == {"Fair tuning", "Plugins", "How models are compared"}


def test_every_section_the_docs_send_readers_to_exists():
    titles = set().union(*(headings(p.read_text(encoding="utf-8")) for p in DOCS))
    sent = set().union(*(references(p.read_text(encoding="utf-8")) for p in DOCS))
    assert sent, "the check found no reference at all: the pattern is broken"
    assert sorted(sent - titles) == []


def test_the_sections_a_rewrite_once_lost_are_there():
    titles = headings((ROOT / "README.md").read_text(encoding="utf-8"))
    assert {"Fair tuning", "Try the models live", "Plugins"} <= titles


def test_the_live_api_and_keep_models_are_documented():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    for needle in ("/api/example", "/api/predict", "--keep-models final", "--keep-models none"):
        assert needle in text


def documented(name: str, text: str) -> bool:
    return re.search(rf"`(?:zoo\.(?:testing\.)?)?{re.escape(name)}[`(.]", text) is not None


def test_every_public_name_is_documented_in_the_plugin_guide():
    guide = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")
    names = [n for n in zoo.__all__ if n != "__version__"] + list(zoo.testing.__all__)
    assert sorted(n for n in names if not documented(n, guide)) == []


def test_the_stability_list_names_every_public_name():
    guide = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")
    stable = guide[guide.index("## What zoo keeps stable"):]
    names = [n for n in zoo.__all__ if n != "__version__"] + list(zoo.testing.__all__)
    assert sorted(n for n in names if not documented(n, stable)) == []


def test_the_documented_check_finds_a_missing_name():
    assert documented("hookimpl", "use `zoo.hookimpl` here")
    assert not documented("hookimpl", "nothing here")


def test_zoo_testing_exports_only_the_plugin_authors_kit():
    assert set(zoo.testing.__all__) == {"check_plugin", "registry", "registered", "PluginCheck"}
    assert not hasattr(zoo.testing, "make_facts")
    assert not hasattr(zoo.testing, "FakeRunnerFactory")
