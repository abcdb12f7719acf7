"""The README's measurement tables are the records under benchmarks/results/, as rendered by
benchmarks/readme_tables.py: a figure changes in its record, never by hand in the README."""
import importlib.util
import re

import pytest

from tests.conftest import REPO

spec = importlib.util.spec_from_file_location("readme_tables", REPO / "benchmarks" / "readme_tables.py")
readme_tables = importlib.util.module_from_spec(spec)
spec.loader.exec_module(readme_tables)


@pytest.mark.parametrize("name", sorted(readme_tables.TABLES))
def test_readme_table_is_its_record(name):
    shown = readme_tables.readme_table((REPO / "README.md").read_text(), name)
    assert shown is not None, f"README.md has no <!-- results:{name} --> block"
    assert shown == readme_tables.TABLES[name](), (
        f"README's {name} table differs from its record: run python benchmarks/readme_tables.py --write")


def test_measurements_in_the_readme_are_only_in_its_tables():
    """Speeds and dates of measurements belong to the records; the README's prose carries none."""
    text = (REPO / "README.md").read_text()
    for name in readme_tables.TABLES:
        text = text.replace(readme_tables.readme_table(text, name), "")
    speeds = re.findall(r"\d[\d.,]* (?:images/s|ms per|ms\b)|\d+\.\d+×", text)
    assert not speeds, f"measured figures in the README's prose: {speeds}; put them in a record and a table"
    assert not re.search(r"measured (?:on )?\d{4}-\d\d", text)
