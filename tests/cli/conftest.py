import pytest


@pytest.fixture(autouse=True)
def _private_data_dir(tmp_path, monkeypatch):
    """Commands write runs and settings into a temporary data directory, never the user's."""
    monkeypatch.setenv("AEROSTUDIO_HOME", str(tmp_path / "home"))
