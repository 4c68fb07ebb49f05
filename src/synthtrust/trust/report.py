"""``reports/trust/index.html``: one self-contained page (figures embedded as PNG data URIs) with the
scorecard, the figures, the reader study's scores, a datasheet for the synthetic dataset and the registered
model's card, and a 3D viewer (NiiVue, vendored; :mod:`synthtrust.viewer`) of real and synthetic pairs.

Its only scripts are the viewer's, inlined; its test checks the page in headless Chromium.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

from synthtrust import viewer
from synthtrust.data.brats import MODALITIES
from synthtrust.data.validation import load_case_dir
from synthtrust.io import atomic_write_text
from synthtrust.stats import describe
from synthtrust.trust.factors import TISSUES

TITLES = {"T1_fidelity": "T1 Fidelity", "T2_utility_parity": "T2 Utility parity",
          "T3_regional_robustness": "T3 Regional robustness", "T4_diversity": "T4 Diversity",
          "T5_privacy": "T5 Privacy", "T6_reader_discrimination": "T6 Reader discrimination"}
MEANING = {
    "T1_fidelity": "mean paired SSIM of synthetic copies and their real cases, inside the brain; the interval's "
                   "lower end must reach the threshold",
    "T2_utility_parity": "worst regional real-test Dice change against the real-only model (alpha = 0), paired on "
                         "the same cases; the interval's lower end must reach -margin (non-inferiority shown)",
    "T3_regional_robustness": "Dice of the smallest enhancing-tumour lesions (lesion-size tertiles; a missed "
                              "lesion scores 0); the interval's lower end must reach the threshold",
    "T4_diversity": "MS-SSIM among synthetic cases over MS-SSIM among real cases (above: mode collapse)",
    "T5_privacy": "membership AUC: how well closeness to the source tells copies of training cases from copies of "
                  "held-out cases (0.5: not at all); fails when the interval lies above the threshold",
    "T6_reader_discrimination": "readers' pooled accuracy at telling synthetic from real cases in a blinded "
                                "reading (0.5: chance); fails when the interval lies above the threshold",
}
STYLE = """
body { font-family: system-ui, sans-serif; margin: 0 auto; max-width: 1100px; padding: 1rem 1.5rem; color: #222; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.2rem; margin-top: 2rem; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.5rem 0; font-size: 0.9rem; max-width: 100%; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.5rem; text-align: left; vertical-align: top; }
.pass { color: #176117; font-weight: 600; } .fail { color: #a11; font-weight: 600; }
.na { color: #666; font-weight: 600; }
img { max-width: 100%; height: auto; display: block; margin: 0.5rem 0; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; background: #f6f6f6; padding: 0.75rem; font-size: 0.85rem; }
.verdict { font-size: 1.3rem; padding: 0.5rem 1rem; display: inline-block; border-radius: 4px; }
.verdict.pass { background: #e4f4e4; } .verdict.fail { background: #fbe3e3; }
.toolbar { display: flex; flex-wrap: wrap; gap: 0.3rem; align-items: center; margin: 0.4rem 0; }
.toolbar button { font-size: 0.85rem; padding: 0.2rem 0.55rem; border: 1px solid #889; border-radius: 4px;
  background: #fff; cursor: pointer; }
.toolbar button.selected, .toolbar button[aria-pressed="true"] { background: #2a5db0; color: #fff; }
.pair { display: flex; flex-wrap: wrap; gap: 0.5rem; }
.pair figure { flex: 1 1 320px; margin: 0; min-width: 0; }
.pair .box { height: 340px; background: #000; }
.pair canvas { width: 100%; height: 100%; display: block; }
"""


def _img(path: str | Path, alt: str) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode()
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _verdict(factor: dict[str, Any]) -> str:
    """pass / FAIL / not applicable (with its reason), and "undecided" where the interval straddles the
    threshold."""
    if factor["status"] == "not applicable":
        return f'<span class="na">not applicable</span>: {html.escape(factor["reason"])}'
    word = '<span class="pass">pass</span>' if factor["passed"] else '<span class="fail">FAIL</span>'
    if factor.get("decided", True):
        return word
    interval = factor.get("interval") or {}
    if interval.get("low") is None:
        return word + f" (undecided: n = {interval.get('cases', 0)}, no interval)"
    return word + " (undecided: the interval straddles the threshold)"


def _interval(interval: dict[str, Any] | None) -> str:
    return "" if interval is None else html.escape(describe(interval))


def _scorecard_table(card: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr><td>{TITLES[k]}</td><td>{'' if f['score'] is None else f['score']}</td>"
        f"<td>{_interval(f.get('interval'))}</td><td>{f['threshold']}</td><td>{_verdict(f)}</td>"
        f"<td>{MEANING[k]}</td></tr>" for k, f in card["factors"].items())
    return ("<table><tr><th>factor</th><th>score</th><th>estimate [interval], cases</th><th>threshold</th>"
            f"<th>verdict</th><th>what it measures</th></tr>{rows}</table>")


def _per_alpha_table(card: dict[str, Any]) -> str:
    rows = []
    for alpha, f in card["per_alpha"].items():
        t2, t3 = f["T2_utility_parity"], f["T3_regional_robustness"]
        gaps = "<br>".join(f"{r} {_interval(v)}" for r, v in t2["real_minus_synthetic_test"].items())
        deltas = "<br>".join(f"{r} {_interval(v)}" for r, v in t2.get("delta_vs_real_only", {}).items())
        rows.append(f"<tr><td>{alpha}</td><td>{deltas}<br>{_verdict(t2)}</td><td>{gaps}</td>"
                    f"<td>{_interval(t3.get('interval'))}<br>{_verdict(t3)}</td></tr>")
    return ("<table><tr><th>alpha</th><th>T2: real-test Dice minus the alpha = 0 model's, same cases</th>"
            "<th>real minus synthetic test Dice, same cases</th><th>T3: small-ET Dice</th></tr>" + "".join(rows)
            + "</table>")


def _parity_section(section: dict[str, Any]) -> str:
    """Where real and synthetic test Dice agree within the margin, and the verdict on the paper's claim."""
    strata = list(next(iter(next(iter(section["gaps"].values())).values())))
    head = "".join(f"<th>{s}</th>" for s in strata)
    body = "".join(
        f"<tr><td>{region}</td>" + "".join(
            f"<td>{', '.join(f'{a:g}' for a in alphas) or 'none shown'}</td>" for alphas in cells.values()) + "</tr>"
        for region, cells in section["parity_alphas"].items())
    claim = section["claim"]
    parts = "".join(f"<li>{html.escape(k)}: <b>{html.escape(v)}</b></li>" for k, v in claim["parts"].items())
    evidence = "".join(f"<li>{html.escape(line)}</li>" for line in claim["evidence"])
    return (f"<p>Parity is shown for a region and stratum when the interval of the paired difference real - "
            f"synthetic test Dice (same model, same cases) lies inside +-{section['margin']} "
            f"(<code>trust.parity_margin</code>). Alphas where it is shown:</p>"
            f"<table><tr><th>region</th>{head}</tr>{body}</table>"
            f"<p>Claim: <i>alpha ~ 0.5 gives real/synthetic parity overall and for large regions while small regions "
            f"stay hard</i>, judged at alpha = {claim['alpha']}: <b id=\"parity-claim\">{html.escape(claim['verdict'])}"
            f"</b></p><ul>{parts}</ul><details><summary>evidence</summary><ul>{evidence}</ul></details>")


def _fidelity_table(t1: dict[str, Any]) -> str:
    head = "".join(f"<th>{m}</th>" for m in MODALITIES)
    ssim = "".join(f"<td>{t1['ssim'][m]}</td>" for m in MODALITIES)
    psnr = "".join(f"<td>{t1['psnr_db'][m]}</td>" for m in MODALITIES)
    w1 = "".join(f"<tr><td>W1 intensity, {t}</td>" + "".join(f"<td>{t1['intensity_w1'].get(t, {}).get(m, '')}</td>"
                                                          for m in MODALITIES) + "</tr>" for t in TISSUES)
    table = (f"<table><tr><th></th>{head}</tr><tr><td>SSIM</td>{ssim}</tr><tr><td>PSNR (dB)</td>{psnr}</tr>{w1}"
             "</table>")
    f = t1.get("features")
    if f:
        table += (f"<p>Set-level feature distances on the {html.escape(f['network'])}: FID {f['fid']} (between two "
                  f"halves of the real cases: {f['fid_real_halves']}), MMD {f['mmd']}.</p>")
    return table


def _t5(t5: dict[str, Any]) -> str:
    if t5["status"] == "not applicable":
        return f"not applicable ({t5['reason']})"
    return (f"{describe(t5['interval'])} ({t5['members']} training-case and {t5['held_out']} held-out copies); "
            f"{t5['flagged']} copies nearer another real case than real cases are to each other")


def pair_viewer(pairs: list[tuple[Path, Path]]) -> str:
    """The section that lets a reader scroll real/synthetic pairs: controls, two linked canvases, the volumes
    (the real case's affine for both) and the scripts, all inline."""
    volumes = {}
    for real_dir, synth_dir in pairs:
        real, synthetic = load_case_dir(real_dir), load_case_dir(synth_dir)
        volumes[Path(real_dir).name] = {
            kind: {k: viewer.encode(v) for k, v in viewer.case_volumes(case.image, real.label, real.affine).items()}
            for kind, case in (("real", real), ("synthetic", synthetic))}
    data = {"cases": list(volumes), "modalities": viewer.modality_names(), "volumes": volumes}
    return (f"""<p>The same cases as the slices above, in 3D: the real case left, its synthetic copy right, slices
linked. Scroll with the mouse wheel over a plane, right-drag for window/level. Viewer:
{html.escape(viewer.niivue_version())} (BSD-2-Clause).</p>
<div class="toolbar"><span id="pair-cases"></span><span id="pair-modalities"></span>
<button id="pair-view" type="button">view: multiplanar</button>
<button id="pair-labels" type="button" aria-pressed="false">labels: off</button></div>
<div class="pair"><figure><figcaption>real</figcaption><div class="box"><canvas id="pair-real"></canvas></div></figure>
<figure><figcaption>synthetic</figcaption><div class="box"><canvas id="pair-synthetic"></canvas></div></figure></div>
<p id="pair-status"></p>
<script>window.SYNTHTRUST_PAIRS = {json.dumps(data)};</script>{viewer.inline_scripts(viewer.PAIRS_JS)}""")


def _readers_section(t6: dict[str, Any], scores: dict[str, Any] | None) -> str:
    """The blinded reading: per reader and pooled figures, agreement, plausibility, comments."""
    if t6["status"] == "not applicable" or scores is None:
        return f"<p>{html.escape(t6.get('reason', 'no reader scores'))}.</p>"
    rows = [("pooled", scores["pooled"])] + list(scores["readers"].items())
    body = "".join(
        f"<tr><td>{html.escape(name)}</td>" + "".join(f"<td>{_interval(f[k])}</td>" for k in (
            "accuracy", "auc", "sensitivity", "specificity")) + "</tr>" for name, f in rows)
    kappa = scores["agreement"]["fleiss_kappa"]
    plaus = scores["plausibility"]
    comments = "".join(
        f"<li><b>{html.escape(where)}</b><ul>" + "".join(
            f"<li>{html.escape(c['case'])} ({c['truth']}, called {c['call']} by {html.escape(c['reader'])}): "
            f"{html.escape(c['text'])}</li>" for c in items) + "</ul></li>"
        for where, items in scores["comments"].items())
    return (f"<p>Study {html.escape(scores['study'])}: {scores['cases']} cases ({scores['real']} real, "
            f"{scores['synthetic']} synthetic), {len(scores['readers'])} readers. Positive = synthetic: "
            "sensitivity is synthetic cases called synthetic, specificity real cases called real; AUC from the "
            "calls weighted by confidence. One reader's proportions: Wilson intervals; pooled: Wilson on the "
            "effective number of calls (readers' calls on one case are not independent).</p>"
            "<table><tr><th>reader</th><th>accuracy</th><th>AUC</th><th>sensitivity</th><th>specificity</th></tr>"
            f"{body}</table>"
            f"<p>Agreement between readers (Fleiss' kappa): "
            f"{_interval(kappa) if kappa else html.escape(scores['agreement'].get('reason', ''))}. "
            f"Clinical plausibility (1-5): synthetic {_interval(plaus['synthetic'])}, real {_interval(plaus['real'])}, "
            f"difference {_interval(plaus['synthetic_minus_real'])}.</p>"
            f"<details><summary>Readers' comments, by sequence and region</summary><ul>{comments or '<li>none</li>'}"
            "</ul></details>")


def _t6(t6: dict[str, Any]) -> str:
    if t6["status"] == "not applicable":
        return "not measured yet (no blinded reading)"
    return f"{describe(t6['interval'])} ({t6['readers']} readers, 0.5 = chance)"


def datasheet(card: dict[str, Any], provenance: dict[str, Any], data: dict[str, Any], n_cases: dict[str, int]
              ) -> str:
    """The synthetic dataset's datasheet (Gebru et al. headings, condensed), as plain text."""
    f = card["factors"]
    return f"""Synthetic BraTS-format dataset made by synthtrust

Motivation: measure whether synthetic MRI can stand in for real training data in brain-tumour segmentation.
Composition: one synthetic copy per real training case ({n_cases['train']}) and per real test case
  ({n_cases['test']}), four modalities ({', '.join(MODALITIES)}) plus the source label map (labels 1, 2, 4).
Source data: data.source = {data.get('source')} (phantoms are generated from the MNI152 template; BraTS 2021 under
  its own licence). The generator saw the real training split only.
Collection process: label-map-conditioned 3D diffusion model, bundle {provenance.get('bundle')}
  {provenance.get('bundle_version')}, checkpoint sha256 {str(provenance.get('checkpoint_sha256', ''))[:16]};
  sampler {provenance.get('sampler')} ({provenance.get('scheduler')}), {provenance.get('steps')} steps; one seed per
  case, recorded with the source label map hash in each case's provenance.json.
Intended use: research on training segmenters with synthetic data and on measuring trust in it. Not for clinical
  use, and not an anonymisation of the source cases: each copy keeps its source case's tumour geometry.
Known limits: fidelity T1 = {f['T1_fidelity']['score']} (mean SSIM); diversity ratio T4 = {f['T4_diversity']['score']},
  coverage {f['T4_diversity']['coverage']}; membership AUC (T5) {_t5(f['T5_privacy'])};
  readers' accuracy at telling synthetic from real (T6) {_t6(f['T6_reader_discrimination'])}.
  Fine image texture and small enhancing regions are the least faithful (see the report's figures).
Evaluation results: scorecard {'PASS' if card['passed'] else 'FAIL'} for {card['model']['name']} version
  {card['model']['version']} (alpha = {card['model']['alpha']}); every figure is in scorecard.json.
"""


def write_report(card: dict[str, Any], figures: dict[str, Path], provenance: dict[str, Any],
                 data: dict[str, Any], n_cases: dict[str, int], model_card: str, out: str | Path,
                 pairs: list[tuple[Path, Path]] = (), readers: dict[str, Any] | None = None) -> Path:
    """Write the self-contained HTML report; ``pairs`` (real, synthetic case directories) get the 3D viewer,
    ``readers`` are the reader study's scores."""
    model = card["model"]
    body = f"""
<h1>Trust report: synthetic BraTS data and {html.escape(model['name'])} version {model['version']}</h1>
<p class="verdict {'pass' if card['passed'] else 'fail'}">Verdict: {'PASS' if card['passed'] else 'FAIL'}{
    ' (not applicable: ' + ', '.join(TITLES[k] for k in card['not_applicable']) + ')' if card['not_applicable'] else ''}
 (challenger, alpha = {model['alpha']}, mix mode {html.escape(str(model['mode']))})</p>
<h2>Scorecard</h2>{_scorecard_table(card)}
<p>Thresholds come from the <code>trust:</code> section of params.yaml; the promotion gate
(<code>synthtrust promote</code>) refuses a challenger whose scorecard fails.</p>
<p>Every interval is a {card['intervals']['confidence']:.0%} percentile bootstrap over cases
({card['intervals']['resamples']} resamples, seed {card['intervals']['seed']}); the scorecard judged
{card['cases']['test']} real test cases, {card['cases']['train']} training cases and {card['cases']['synthetic']}
synthetic copies.</p>
<h2>Dice against alpha, real and synthetic test</h2>{_img(figures['dice_vs_alpha'], 'Dice vs alpha')}
{_per_alpha_table(card)}
<h2>Parity: where do real and synthetic test Dice agree?</h2>{_parity_section(card['parity'])}
<h2>Lesion Dice by lesion size</h2>{_img(figures['stratified'], 'Stratified Dice')}
<h2>Real and synthetic images</h2>
<p>Axial slices through the tumour centre, real above synthetic, label contours (red: necrotic core,
green: oedema, yellow: enhancing).</p>{_img(figures['real_vs_synthetic'], 'Real vs synthetic')}
{_fidelity_table(card['factors']['T1_fidelity'])}
<h3>Scroll the volumes</h3>{pair_viewer(list(pairs)) if pairs else '<p>(no pairs given)</p>'}
<h2>Can readers tell them apart? (T6)</h2>{_readers_section(card['factors']['T6_reader_discrimination'], readers)}
<h2>Privacy</h2>{_img(figures['privacy'], 'Privacy nearest neighbours')}
<h2>Diversity</h2>{_img(figures['diversity'], 'Diversity')}
<h2>Datasheet: the synthetic dataset</h2><pre>{html.escape(datasheet(card, provenance, data, n_cases))}</pre>
<h2>Model card: {html.escape(model['name'])} version {model['version']}</h2><pre>{html.escape(model_card)}</pre>
<h2>Scorecard (JSON)</h2><pre id="scorecard">{html.escape(json.dumps(
        {k: {x: v for x, v in f.items() if x in ('score', 'threshold', 'passed', 'status', 'interval')}
         for k, f in card['factors'].items()},
        indent=1))}</pre>
"""
    page = (f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>synthtrust trust report</title><style>{STYLE}</style></head>"
            f"<body>{body}</body></html>\n")
    atomic_write_text(out, page)
    return Path(out)
