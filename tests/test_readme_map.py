"""The README's architecture map is the modules' own docstrings: none missing, none stale."""

from __future__ import annotations

import difflib
from pathlib import Path

from tests import readme_map


def test_the_readme_map_lists_every_module_with_its_docstring_line() -> None:
    current = readme_map.render()
    in_readme = readme_map.embedded(readme_map.README.read_text())

    stale = list(difflib.unified_diff(in_readme.splitlines(), current.splitlines(), lineterm=""))
    assert not stale, "README map is stale; run `make readme-map`:\n" + "\n".join(stale)


def test_every_production_module_has_a_line_and_a_docstring() -> None:
    current = readme_map.render()
    modules = [
        path
        for package in readme_map.packages()
        for path in package.glob("*.py")
        if path.name != "__init__.py"
    ]

    assert len(modules) > 100
    assert [path for path in modules if not readme_map.summary(path)] == []
    assert [path for path in modules if f"- `{path.name}`: " not in current] == []


def test_a_new_module_or_a_changed_docstring_changes_the_map(tmp_path: Path) -> None:
    package = tmp_path / "strategies"
    package.mkdir()
    (package / "__init__.py").write_text('"""Strategies."""\n')
    (package / "job.py").write_text('"""The job\'s rules:\nits name."""\n\nX = 1\n')
    for other in ("project", "tasks", "marketdata"):
        (tmp_path / other).mkdir()
        (tmp_path / other / "__init__.py").write_text("")
    before = readme_map.render(tmp_path)
    (package / "bounds.py").write_text('"""Bounds."""\n')
    (package / "job.py").write_text('"""The job\'s rules: its name and trigger."""\n')

    after = readme_map.render(tmp_path)

    assert before == "**`strategies/`** Strategies.\n- `job.py`: The job's rules: its name.\n"
    assert after == (
        "**`strategies/`** Strategies.\n"
        "- `bounds.py`: Bounds.\n"
        "- `job.py`: The job's rules: its name and trigger.\n"
    )


def test_the_map_is_written_between_the_markers_and_nothing_else_changes(
    tmp_path: Path,
) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"# Title\n\n{readme_map.START}\nold map\n{readme_map.END}\n\n## Next\n")

    changed = readme_map.write(readme)
    again = readme_map.write(readme)

    text = readme.read_text()
    assert (changed, again) == (True, False)
    assert text.startswith(f"# Title\n\n{readme_map.START}\n**`project/`**")
    assert text.endswith(f"{readme_map.END}\n\n## Next\n")
    assert readme_map.embedded(text) == readme_map.render()
