"""Fixtures shared by the unit tests of strong (MRSC) tables: making them and cleaning them up."""

import pytest

from tests.unit.test_strong_table import require_strong_tables, watching_update_tables


@pytest.fixture
def strong_tables(clients):
    """``clients``, or the test is skipped while the embedded AWS does not make strong tables."""
    return require_strong_tables(clients)


@pytest.fixture
def update_calls(clients):
    """``watch(region)`` -> the UpdateTable calls made through that region's client from then on."""
    with watching_update_tables(clients) as watch:
        yield watch
