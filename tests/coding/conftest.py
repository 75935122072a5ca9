from __future__ import annotations

import pytest

from telehealth.coding.codeset import CodeSet
from telehealth.coding.loader import default_codeset


@pytest.fixture(scope="session")
def codeset() -> CodeSet:
    return default_codeset()
