/* Real and synthetic copies side by side, slices linked: window.SYNTHTRUST_PAIRS is
 * {cases: [id...], modalities: [[key, name]...], volumes: {id: {real: {key: base64, label}, synthetic: {...}}}}.
 * Each page element it uses has an id starting "pair-". */
(function () {
  'use strict';
  const PAIRS = window.SYNTHTRUST_PAIRS;
  const $ = (id) => document.getElementById(id);
  if (!PAIRS || !$('pair-real')) return;
  const kinds = ['real', 'synthetic'];
  const viewers = kinds.map((kind) => new window.SynthtrustViewer.CaseViewer($(`pair-${kind}`)));
  let current = null;

  function mark(box, attribute, value) {
    for (const b of $(box).children) b.classList.toggle('selected', b.dataset[attribute] === String(value));
  }

  async function showCase(id) {
    current = id;
    document.body.dataset.pairReady = '';
    mark('pair-cases', 'case', id);
    for (const [i, kind] of kinds.entries()) {
      const volumes = PAIRS.volumes[id][kind];
      await viewers[i].load(PAIRS.modalities.map(([key, name]) => [name, volumes[key]]), volumes.label);
    }
    mark('pair-modalities', 'index', viewers[0].current);
    document.body.dataset.pairReady = id;
  }

  function button(box, text, data, onClick) {
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = text;
    Object.assign(b.dataset, data);
    b.addEventListener('click', onClick);
    $(box).appendChild(b);
  }

  async function start() {
    await Promise.all(viewers.map((v) => v.attach()));
    viewers[0].link(viewers[1]);
    for (const id of PAIRS.cases) button('pair-cases', id, { case: id }, () => showCase(id));
    PAIRS.modalities.forEach(([, name], i) => button('pair-modalities', name, { index: String(i) }, () => {
      viewers.forEach((v) => v.show(i));
      mark('pair-modalities', 'index', i);
    }));
    $('pair-labels').addEventListener('click', () => {
      const on = viewers.map((v) => v.toggleLabels())[0];
      $('pair-labels').textContent = `labels: ${on ? 'on' : 'off'}`;
      $('pair-labels').setAttribute('aria-pressed', String(on));
    });
    $('pair-view').addEventListener('click', () => {
      $('pair-view').textContent = `view: ${viewers.map((v) => v.nextView())[0]}`;
    });
    await showCase(PAIRS.cases[0]);
  }

  start().catch((e) => {
    $('pair-status').textContent = `The viewer could not start (${e}); WebGL 2 must be enabled.`;
  });
})();
