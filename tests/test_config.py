"""Reading params.yaml into typed sections."""

from __future__ import annotations

from pathlib import Path

import pytest

from synthtrust.config import load_params, section
from synthtrust.data.prepare import DataParams
from synthtrust.errors import ParamsError
from tests.conftest import REPO


def test_repository_params_and_profiles_parse() -> None:
    demo = section(DataParams, "data", REPO / "params.yaml")
    paper = section(DataParams, "data", REPO / "profiles" / "paper.yaml")
    assert demo.source == "phantom" and demo.spatial_size == (64, 64, 64)
    assert paper.source == "brats" and paper.spatial_size == (128, 128, 128)
    assert set(load_params(REPO / "params.yaml")) == set(load_params(REPO / "profiles" / "paper.yaml"))


@pytest.mark.parametrize(
    "text, message",
    [
        ("data:\n  sauce: phantom\n", r"data: unknown keys \['sauce'\]"),
        ("data:\n  phantom:\n    n: many\n", "data.phantom.n: expected int, got 'many'"),
        ("data:\n  spatial_size: 64\n", "data.spatial_size: expected a list, got 64"),
        ("data:\n  split:\n    seed: true\n", "data.split.seed: expected int, got True"),
        ("data: [1, 2\n", "not valid YAML"),
        ("other: {}\n", "missing section 'data'"),
    ],
)
def test_bad_params_files_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "params.yaml"
    path.write_text(text)
    with pytest.raises(ParamsError, match=message):
        section(DataParams, "data", path)


def test_missing_params_file(tmp_path: Path) -> None:
    with pytest.raises(ParamsError, match="params file not found"):
        load_params(tmp_path / "nope.yaml")


def test_mix_section_parses_in_both_profiles() -> None:
    from synthtrust.mixing import MixParams

    assert section(MixParams, "mix", REPO / "params.yaml").alphas == (0.0, 0.5, 1.0)
    assert len(section(MixParams, "mix", REPO / "profiles" / "paper.yaml").alphas) == 11


def test_search_and_registry_sections_parse_in_both_profiles() -> None:
    from synthtrust.registry.params import RegistryParams
    from synthtrust.search.params import SearchParams

    for path in (REPO / "params.yaml", REPO / "profiles" / "paper.yaml"):
        assert section(SearchParams, "search", path).study_name == "brats-alpha"
        assert section(RegistryParams, "registry", path).model_name == "brats-swinunetr"
    assert section(SearchParams, "search", REPO / "profiles" / "paper.yaml").sampler == "gp"
