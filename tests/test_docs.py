"""Every environment variable the project reads is documented in the README."""

import re

from .processes import ROOT


def test_every_environment_variable_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    sources = [ROOT / "xcoresite" / "settings.py", ROOT / "xcoresite" / "devstack.py"]
    names = set()
    for source in sources:
        text = source.read_text()
        names |= set(re.findall(r"""env(?:\.\w+)?\(\s*["']([A-Z_]+)["']""", text))
        names |= set(
            re.findall(
                r"""environ(?:\(\))?\.(?:get|str|int|float|bool|list|db)\(\s*["']([A-Z_]+)["']""", text
            )
        )
    assert len(names) > 10
    missing = sorted(n for n in names if f"`{n}`" not in readme)
    assert not missing, f"undocumented environment variables: {missing}"
