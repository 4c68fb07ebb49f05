"""Making a study: blinded, seeded, self-contained, the key apart; and its refusals."""

from __future__ import annotations

import base64
import gzip
import json
import re
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from synthtrust import viewer
from synthtrust.cli import main
from synthtrust.data.brats import MODALITIES
from synthtrust.data.validation import load_case_dir
from synthtrust.errors import DataError
from synthtrust.params import replace
from tests.reader_study.conftest import PARAMS, make_study


def case_volumes(folder: Path, case: str) -> dict[str, nib.Nifti1Image]:
    """The NIfTI volumes a case's script carries, as the page would decode them."""
    text = (folder / "cases" / f"{case}.js").read_text()
    found = dict(re.findall(r'"(\w+)": "([A-Za-z0-9+/=]+)"', text))
    return {name: nib.Nifti1Image.from_bytes(gzip.decompress(base64.b64decode(data)))
            for name, data in found.items()}


def test_the_folder_is_blinded_and_self_contained(study: tuple[Path, Path, dict], study_workspace: Path) -> None:
    folder, key_path, key = study
    assert not key_path.is_relative_to(folder)
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["index.html", "study.js", "study.css", "viewer.js", "niivue.umd.js", "NIIVUE-LICENSE.txt", "README.txt",
         "study-data.js", "cases"])
    cases = list(key["cases"])
    assert cases == [f"case_{i}" for i in range(1, 7)]
    truths = [c["truth"] for c in key["cases"].values()]
    assert truths.count("real") == 3 and truths.count("synthetic") == 3
    sources = [c["source"] for c in key["cases"].values()]
    assert len(set(sources)) == 6  # no patient shown twice (a copy beside its source would give both away)
    page = json.loads((folder / "study-data.js").read_text().removeprefix("window.STUDY = ").rstrip(";\n"))
    assert page["study"] == key["study"] and page["cases"] == cases
    assert set(page) == {"study", "format", "cases", "modalities", "calls", "niivue"}  # what the page is told
    # nothing in the folder names a source case, a split or a truth
    for path in folder.rglob("*"):
        if path.is_file() and path.name not in ("niivue.umd.js", "NIIVUE-LICENSE.txt"):
            text = path.read_text()
            assert not any(s in text for s in sources), path
            assert not re.search(r"truth|source|BraTS20|train/|test/", text), path
    # every page asset is local: no http(s) anywhere in the page's own files
    for name in ("index.html", "study.js", "viewer.js", "study-data.js"):
        assert "http://" not in (folder / name).read_text() and "https://" not in (folder / name).read_text()


def test_shown_volumes_are_the_cases_pixels_under_one_header(study: tuple[Path, Path, dict],
                                                             study_workspace: Path) -> None:
    folder, _, key = study
    headers = []
    for case, entry in key["cases"].items():
        volumes = case_volumes(folder, case)
        assert sorted(volumes) == sorted([*MODALITIES, "label"])
        real = load_case_dir(study_workspace / "data/prepared" / entry["split"] / entry["source"])
        shown = real if entry["truth"] == "real" else load_case_dir(
            study_workspace / "data/synthetic" / entry["split"] / entry["source"])
        for c, m in enumerate(MODALITIES):
            data = volumes[m].get_fdata()
            step = np.ptp(shown.image[c]) / 65535 * 1.01
            assert np.abs(data - shown.image[c]).max() <= step  # int16 over the range: within one level
            assert np.allclose(volumes[m].affine, real.affine)
            headers.append((volumes[m].header.get_data_dtype(), bytes(volumes[m].header["descrip"])))
        assert np.array_equal(np.asarray(volumes["label"].dataobj), real.label)
    assert len(set(headers)) == 1  # real and synthetic volumes carry the same kind of header, nothing else


def test_same_params_same_study_other_seed_other_order(study_workspace: Path, tmp_path: Path) -> None:
    first = make_study(study_workspace, tmp_path / "a")
    again = make_study(study_workspace, tmp_path / "b")
    other = make_study(study_workspace, tmp_path / "c", replace(PARAMS, seed=1))
    assert (tmp_path / "a/key.json").read_bytes() == (tmp_path / "b/key.json").read_bytes()
    assert first["study"] == again["study"] != other["study"]
    assert [c["source"] for c in first["cases"].values()] != [c["source"] for c in other["cases"].values()]
    for case in first["cases"]:
        script = f"study/cases/{case}.js"
        assert (tmp_path / "a" / script).read_bytes() == (tmp_path / "b" / script).read_bytes()


def test_a_remade_study_replaces_its_own_folder_only(study_workspace: Path, tmp_path: Path) -> None:
    make_study(study_workspace, tmp_path)
    make_study(study_workspace, tmp_path, replace(PARAMS, cases=4))  # its own output: replaced
    assert len(list((tmp_path / "study/cases").iterdir())) == 4
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    with pytest.raises(DataError, match="not an output of synthtrust reader-study make"):
        make(mine, tmp_path / "key2.json")
    assert (mine / "notes.txt").read_text() == "keep" and not (tmp_path / "key2.json").exists()


def make(out: Path, key: Path, params=PARAMS, root: Path | None = None) -> dict:
    from synthtrust.stages.reader_study import make as run

    root = root or Path(str(out)).parent
    return run(params, out, key, root / "data/prepared/manifest.json", root / "data/synthetic")


@pytest.mark.parametrize("problem, says", [
    ("key inside", "the key would sit inside the study folder"),
    ("too many", "reader_study.cases: 7 cases need 7 distinct source cases, the splits ['train', 'test'] have 6"),
    ("no copy", "case missing (run: dvc repro synthesize)"),
    ("no niivue", "NiiVue is not vendored (run: make setup"),
])
def test_refusals_are_one_line_and_write_nothing(problem: str, says: str, study_workspace: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    root = tmp_path / "ws"
    shutil.copytree(study_workspace / "data", root / "data")
    params, out, key = PARAMS, tmp_path / "study", tmp_path / "key.json"
    if problem == "key inside":
        key = out / "key.json"
    elif problem == "too many":
        params = replace(PARAMS, cases=7)
    elif problem == "no copy":
        shutil.rmtree(next((root / "data/synthetic/test").iterdir()))
    else:
        monkeypatch.setattr(viewer, "NIIVUE", tmp_path / "absent.js")
    with pytest.raises(DataError, match=re.escape(says)):
        make(out, key, params, root)
    assert not out.exists() and not key.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no partial folder left


def test_the_command_line(study_workspace: Path, tmp_path: Path, capsys: pytest.CaptureFixture,
                          caplog: pytest.LogCaptureFixture) -> None:
    params = tmp_path / "params.yaml"
    text = (Path(__file__).parents[2] / "params.yaml").read_text().replace("cases: 20 ", "cases: 6 ")
    params.write_text(text)
    argv = ["reader-study", "make", "--params", str(params), "--out", str(tmp_path / "study"), "--key",
            str(tmp_path / "key.json"), "--manifest", str(study_workspace / "data/prepared/manifest.json"),
            "--synthetic", str(study_workspace / "data/synthetic")]
    main(argv)
    assert "6 cases; give readers" in capsys.readouterr().out and (tmp_path / "study/index.html").is_file()
    for argv, says in ((["reader-study", "mkae"], "unknown command 'mkae'; its commands: make, score"),
                       (["reader-study"], "a command is needed; its commands: make, score"),
                       (["reader-study", "make", "--cases", "3"], "unknown flag --cases"),
                       (["reader-study", "score", "a.json", "--kye", "k"],
                        "unknown flag --kye (did you mean --key?); its flags: --key, --params, --out")):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2 and says in caplog.text, argv
    with pytest.raises(SystemExit) as exc:
        main(["reader-study", "--help"])  # the group's help, from fire
    assert exc.value.code == 0 and "COMMAND is one of the following" in capsys.readouterr().err
