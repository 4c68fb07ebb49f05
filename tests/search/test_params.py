"""The ``search:`` section: bad values are named; the storage comes from the environment first."""

from __future__ import annotations

import pytest

from synthtrust.errors import ParamsError
from synthtrust.search.params import SearchParams


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"n_trials": 0}, "search.n_trials"),
    ({"objective": "median"}, "search.objective"),
    ({"sampler": "cmaes"}, "search.sampler"),
    ({"pruner": "hyperband"}, "search.pruner"),
    ({"modes": ("replace", "replace")}, "search.modes"),
    ({"modes": ("swap",)}, "search.modes"),
    ({"heartbeat_interval": 10, "grace_period": 10}, "grace_period"),
])
def test_bad_values_are_named(kwargs: dict, message: str) -> None:
    with pytest.raises(ParamsError, match=message):
        SearchParams(**kwargs)


def test_storage_env_overrides_params(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPTUNA_STORAGE", raising=False)
    assert SearchParams().storage_url("sqlite:///d.db") == "sqlite:///d.db"
    assert SearchParams(storage="sqlite:///p.db").storage_url("sqlite:///d.db") == "sqlite:///p.db"
    monkeypatch.setenv("OPTUNA_STORAGE", "postgresql://u:pw@host/optuna")
    assert SearchParams(storage="sqlite:///p.db").storage_url("sqlite:///d.db") == "postgresql://u:pw@host/optuna"
