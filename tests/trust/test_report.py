"""The trust stage for real on the tiny workspace, and the report opened in headless Chromium.

The workspace's synthetic training cases are rescaled copies of the real ones (a generator that returns its
training images) while its held-out (test) copies are noisy: membership inference (T5) must catch that.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import mlflow
import nibabel as nib
import numpy as np
import pytest

from synthtrust.data.brats import MODALITIES
from synthtrust.params import replace
from synthtrust.plots import real_vs_synthetic
from synthtrust.segmenter.training import read_validation
from synthtrust.stages.evaluate import run as evaluate
from synthtrust.stages.plot_segmenter import run as write_dice_vs_alpha
from synthtrust.stages.register import run as register
from synthtrust.stages.trust import EXPERIMENT, FACTORS
from synthtrust.stages.trust import run as run_trust
from synthtrust.trust.parity import UNDECIDED
from tests.conftest import DEMO, TINY_SEGMENTER, require_service

pytestmark = pytest.mark.slow
SEG = TINY_SEGMENTER
ALPHAS = [0.0, 1.0]


def _reader_scores() -> dict:
    """Scores of two readers who guess (seeded) in a 12-case study, with a comment: T6 judges them."""
    from synthtrust.reader_study.scoring import score

    truths = ["real", "synthetic"] * 6
    key = {"study": "0123456789abcdef", "cases": {f"case_{i:02d}": {"truth": t} for i, t in enumerate(truths, 1)}}
    rng = np.random.default_rng(5)
    readers = [{"reader": name, "file": f"{name}.json", "answers": {
        case: {"call": str(rng.choice(["real", "synthetic"])), "confidence": 3, "plausibility": 4,
               "comment": "flat texture" if name == "A" and case == "case_01" else "", "comment_modality": "T2",
               "comment_region": "oedema", "seconds": 40.0} for case in key["cases"]}} for name in ("A", "B")]
    return score(key, readers, DEMO.intervals)


@pytest.fixture(scope="module")
def trust_run(trained_workspace: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """Evaluate the grid, register alpha = 0 as challenger, then run the trust stage; returns (root, card)."""
    root = tmp_path_factory.mktemp("trust") / "ws"
    shutil.copytree(trained_workspace, root)
    rng = np.random.default_rng(0)
    for path in sorted((root / "data/synthetic/test").glob("*/*.nii.gz")):
        if "_seg" in path.name:
            continue
        image = nib.load(path)
        data = np.asarray(image.dataobj, dtype=np.float32)
        noisy = np.where(data != 0, data + 0.5 * data.std() * rng.standard_normal(data.shape), 0)
        nib.save(nib.Nifti1Image(noisy.astype(np.float32), image.affine, image.header), path)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlruns.db'}")
        for alpha in ALPHAS:
            evaluate(SEG, DEMO.intervals, alpha, f"models/segmenter/alpha_{alpha}/model.pt",
                     f"metrics/segmenter/alpha_{alpha}.json", f"reports/segmenter/alpha_{alpha}/per_case.csv")
        write_dice_vs_alpha(ALPHAS, "reports/segmenter/dice_vs_alpha.csv", "reports/segmenter/dice_vs_alpha.png")
        manifest = json.loads(Path("data/prepared/manifest.json").read_text())
        real_vs_synthetic([(Path("data/prepared/train") / c, Path("data/synthetic/train") / c)
                           for c in manifest["splits"]["train"]], "reports/generator/real_vs_synthetic.png")
        validation = read_validation("models/segmenter/alpha_0.0")
        Path("metrics/search.json").write_text(json.dumps({"study": "s", "best": {
            "trial": 0, "alpha": 0.0, "mode": "replace", "val_dice": validation["dice"],
            "val_mean_dice": validation["mean_dice"], "model_dir": "models/segmenter/alpha_0.0"}}))
        Path("params.yaml").write_text("data: {source: phantom}\n")
        register(DEMO.registry, SEG, DEMO.intervals, "phantom")
        Path("metrics/reader_study.json").write_text(json.dumps(_reader_scores()))
        card = run_trust(DEMO.trust, DEMO.intervals, replace(DEMO.mix, alphas=ALPHAS), SEG, {"source": "phantom"})
    return root, card


def test_the_scorecard_judges_the_challenger_and_catches_memorisation(trust_run: tuple[Path, dict]) -> None:
    root, card = trust_run
    assert json.loads((root / "reports/trust/scorecard.json").read_text()) == card
    model = card["model"]
    assert tuple(card["factors"]) == FACTORS and {k: model[k] for k in ("name", "version", "alpha", "mode")} == {
        "name": "brats-swinunetr", "version": 1, "alpha": 0.0, "mode": "replace"}
    # what binds it to that one version in that one store, for the promotion gate
    assert model["store"] == "sqlite:///mlruns.db" and len(model["checkpoint_sha256"]) == 64 and model["run_id"]
    t6 = card["factors"]["T6_reader_discrimination"]  # two guessing readers: chance is inside the interval
    assert t6["status"] == "pass" and t6["readers"] == 2 and t6["interval"]["low"] <= 0.5 <= t6["interval"]["high"]
    t5 = card["factors"]["T5_privacy"]  # training copies at distance 0 from their source, held-out ones not
    assert t5["score"] == 1.0 and t5["interval"]["low"] == 1.0 and not t5["passed"] and not card["passed"]
    assert (t5["members"], t5["held_out"]) == (4, 2)
    assert all(c["to_source"] == 0 for c in t5["cases"].values() if c["member"])
    t1 = card["factors"]["T1_fidelity"]
    assert t1["score"] > 0.9  # a rescaled copy is structurally the same image
    assert t1["features"]["fid"] >= 0 and "swinViT" in t1["features"]["network"]
    t2 = card["factors"]["T2_utility_parity"]  # the challenger is the alpha = 0 model: nothing to compare
    assert t2["status"] == "not applicable" and t2["passed"] is None and card["not_applicable"] == [
        "T2_utility_parity"]
    assert set(card["per_alpha"]) == {"0.0", "1.0"}  # every alpha, alpha = 0 not applicable, alpha = 1 judged
    assert card["per_alpha"]["0.0"]["T2_utility_parity"]["status"] == "not applicable"
    alpha_1 = card["per_alpha"]["1.0"]["T2_utility_parity"]
    assert alpha_1["status"] in ("pass", "fail") and alpha_1["n_synthetic"] == 4
    assert {r: d["cases"] for r, d in alpha_1["delta_vs_real_only"].items()} == {"TC": 2, "WT": 2, "ET": 2}
    assert card["parity"]["claim"]["verdict"] == UNDECIDED  # alphas 0 and 1 only: nothing near 0.5
    assert card["cases"] == {"train": 4, "test": 2, "synthetic": 6}
    small = json.loads((root / "metrics/trust.json").read_text())
    assert small["passed"] is False and small["T5_privacy"] == {"score": 1.0, "passed": False, "status": "fail"}
    assert small["T2_utility_parity"]["status"] == "not applicable" and small["parity_claim"] == UNDECIDED
    assert small["T6_reader_discrimination"]["status"] == "pass"
    client = mlflow.MlflowClient(f"sqlite:///{root / 'mlruns.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name(EXPERIMENT).experiment_id])
    assert run.data.metrics["T5_privacy_passed"] == 0.0
    assert {a.path for a in client.list_artifacts(run.info.run_id, "trust")} >= {"trust/index.html",
                                                                                  "trust/scorecard.json"}


def test_the_report_is_self_contained(trust_run: tuple[Path, dict]) -> None:
    root, card = trust_run
    page = (root / "reports/trust/index.html").read_text()
    assert len(re.findall(r'<img alt="[^"]+" src="data:image/png;base64,', page)) == 5
    assert not re.search(r'src="(?!data:)', page)  # nothing loaded from elsewhere
    for text in ("Verdict: FAIL", "T5 Privacy", "Datasheet", "Model card", "Intended use", *MODALITIES,
                 "not applicable", f'<b id="parity-claim">{UNDECIDED}</b>', "95% percentile bootstrap over cases",
                 "T6 Reader discrimination", "Study 0123456789abcdef: 12 cases (6 real, 6 synthetic), 2 readers",
                 "Agreement between readers (Fleiss' kappa)", "<b>T2 / oedema</b>", "flat texture",
                 "Scroll the volumes"):
        assert text in page, text
    # the viewer: the vendored NiiVue inline, and the test pairs' volumes (the real case's affine for both)
    pairs = json.loads(re.search(r"window.SYNTHTRUST_PAIRS = (\{.*?\});</script>", page).group(1))
    manifest = json.loads((root / "data/prepared/manifest.json").read_text())
    assert pairs["cases"] == manifest["splits"]["test"][:3]
    assert set(pairs["volumes"][pairs["cases"][0]]) == {"real", "synthetic"}
    assert page.count("<script>") == 4 and "niivue" in page


# Checks a page once it has loaded and its 3D viewer shows the first pair (or 8 s passed), in the browser: every
# image decoded, nothing wider than the window, the viewer ready; the result goes to <body data-selfcheck>, which
# --dump-dom prints. Injected into a copy of the report only.
SELFCHECK = """
const waitForViewer = (since) => document.body.dataset.pairReady || Date.now() - since > 8000
  ? check() : setTimeout(() => waitForViewer(since), 100);
window.addEventListener('load', () => waitForViewer(Date.now()));
function check() {
  const images = [...document.images];
  const broken = images.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.alt);
  const width = document.documentElement.clientWidth;
  const wide = [...document.querySelectorAll('body *')]
    .filter(e => e.getBoundingClientRect().right > width + 1).map(e => e.tagName + (e.id ? '#' + e.id : ''));
  document.body.dataset.selfcheck = JSON.stringify({images: images.length, broken: broken,
    overflow: wide.slice(0, 10), page_wider: document.documentElement.scrollWidth > width,
    viewer: document.body.dataset.pairReady || document.getElementById('pair-status').textContent});
}
"""


def test_every_image_loads_and_nothing_overflows_in_chromium(trust_run: tuple[Path, dict], tmp_path: Path) -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        require_service("no chromium: install Debian's (apt-get install chromium) to run the report's browser check")
    root, _ = trust_run
    page = (root / "reports/trust/index.html").read_text()
    checked = tmp_path / "index.html"
    checked.write_text(page.replace("</head>", f"<script>{SELFCHECK}</script></head>", 1))
    for width in (1280, 800):
        result = subprocess.run([browser, "--headless", "--no-sandbox", "--use-angle=swiftshader",
                                 "--enable-unsafe-swiftshader", "--disable-dev-shm-usage",
                                 f"--window-size={width},900", "--virtual-time-budget=10000", "--dump-dom",
                                 checked.as_uri()],
                                capture_output=True, text=True, timeout=120)
        found = re.search(r'data-selfcheck="([^"]*)"', result.stdout)
        assert found, f"no self-check in the DOM ({result.returncode}): {result.stderr[-1500:]}"
        check = json.loads(found.group(1).replace("&quot;", '"'))
        first = json.loads((root / "data/prepared/manifest.json").read_text())["splits"]["test"][0]
        assert check == {"images": 5, "broken": [], "overflow": [], "page_wider": False, "viewer": first}, (width,
                                                                                                           check)
