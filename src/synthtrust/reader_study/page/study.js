/* The reader-study page: shows window.STUDY's cases one by one in the viewer, keeps the answers in
 * localStorage (per study) across reloads, and saves them as one JSON file (synthtrust reader-study score). */
(function () {
  'use strict';
  const STUDY = window.STUDY;
  const STORE = `synthtrust-reader-study:${STUDY.study}`;
  const REGIONS = ['whole image', 'tumour core', 'oedema', 'enhancing tumour', 'healthy brain', 'background'];
  const $ = (id) => document.getElementById(id);
  const viewer = new window.SynthtrustViewer.CaseViewer($('viewer'));

  function fresh() {
    return { reader: '', started: new Date().toISOString(), position: 0, answers: {}, seconds: {} };
  }
  function restore() {
    try {
      const saved = JSON.parse(localStorage.getItem(STORE));
      return saved && saved.answers ? Object.assign(fresh(), saved) : fresh();
    } catch (e) {
      return fresh();
    }
  }
  const state = restore();
  let shownAt = performance.now();
  let loading = Promise.resolve();

  function persist() { localStorage.setItem(STORE, JSON.stringify(state)); }
  function caseId() { return STUDY.cases[state.position]; }
  function answer(id = caseId()) {
    state.answers[id] = state.answers[id] || {
      call: null, confidence: null, plausibility: null, comment: '', comment_modality: 'all',
      comment_region: REGIONS[0],
    };
    return state.answers[id];
  }
  function complete(a) { return a && a.call && a.confidence && a.plausibility; }
  function answered() { return STUDY.cases.filter((id) => complete(state.answers[id])).length; }

  function tally() {  // time on the case shown, added when leaving it or saving
    const now = performance.now();
    const id = caseId();
    state.seconds[id] = Math.round(((state.seconds[id] || 0) + (now - shownAt) / 1000) * 10) / 10;
    shownAt = now;
  }

  function say(text, warn = false) {
    $('status').textContent = text;
    $('status').className = warn ? 'warn' : '';
  }

  function render() {
    const id = caseId();
    const a = state.answers[id] || {};
    const done = answered();
    $('case-name').textContent = `${id.replace('_', ' ')} (${state.position + 1} of ${STUDY.cases.length})`;
    $('progress').textContent = `${done} of ${STUDY.cases.length} answered`;
    document.body.dataset.answered = String(done);
    document.body.dataset.position = String(state.position);
    for (const b of $('calls').children) b.classList.toggle('selected', b.dataset.call === a.call);
    for (const b of $('confidence').children) b.classList.toggle('selected', Number(b.dataset.value) === a.confidence);
    for (const b of $('plausibility').children) b.classList.toggle('selected', Number(b.dataset.value) === a.plausibility);
    $('comment').value = a.comment || '';
    $('comment-modality').value = a.comment_modality || 'all';
    $('comment-region').value = a.comment_region || REGIONS[0];
    $('reader').value = state.reader;
    $('save').classList.toggle('selected', done === STUDY.cases.length);
  }

  function loadScript(src) {
    return new Promise((resolve, reject) => {
      const script = document.createElement('script');
      script.src = src;
      script.onload = () => { script.remove(); resolve(); };
      script.onerror = () => reject(new Error(`${src} could not be read`));
      document.head.appendChild(script);
    });
  }

  async function showCase() {
    const id = caseId();
    document.body.dataset.ready = '';
    render();
    window.STUDY_CASES = window.STUDY_CASES || {};
    if (!window.STUDY_CASES[id]) await loadScript(`cases/${id}.js`);
    if (id !== caseId()) return;  // the reader moved on while it loaded
    const volumes = window.STUDY_CASES[id];
    delete window.STUDY_CASES[id];  // one case in memory at a time
    await viewer.load(STUDY.modalities.map(([key, name]) => [name, volumes[key]]), volumes.label);
    markModality();
    document.body.dataset.ready = id;
  }

  function go(position) {
    if (position < 0 || position >= STUDY.cases.length) {
      if (position >= STUDY.cases.length) {
        const left = STUDY.cases.length - answered();
        say(left ? `Last case. ${left} case(s) still unanswered.` : 'All cases answered: press "Save answers".');
      }
      return;
    }
    tally();
    state.position = position;
    persist();
    say('');
    loading = loading.then(showCase).catch((e) => say(String(e), true));
  }

  function set(field, value) {
    const a = answer();
    a[field] = value;
    persist();
    render();
    if (complete(a)) say('Answered. Next case: N or Enter.');
  }

  function markModality() {
    for (const b of $('modalities').children) b.classList.toggle('selected', Number(b.dataset.index) === viewer.current);
  }

  function slug(text) { return text.trim().toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '') || 'reader'; }

  function save() {
    if (!state.reader.trim()) {
      say('Enter your name first (top of the page).', true);
      $('reader').focus();
      return;
    }
    tally();
    persist();
    const answers = {};
    for (const id of STUDY.cases) {
      if (!state.answers[id]) continue;
      answers[id] = Object.assign({}, state.answers[id], { seconds: state.seconds[id] || 0 });
    }
    const file = {
      format: STUDY.format, study: STUDY.study, reader: state.reader.trim(), started: state.started,
      saved: new Date().toISOString(), viewer: STUDY.niivue, user_agent: navigator.userAgent, answers,
    };
    const blob = new Blob([JSON.stringify(file, null, 1)], { type: 'application/json' });
    const link = document.createElement('a');
    link.href = URL.createObjectURL(blob);
    link.download = `answers-${STUDY.study}-${slug(state.reader)}.json`;
    document.body.appendChild(link);
    link.click();
    link.remove();
    const left = STUDY.cases.length - answered();
    say(left ? `Saved (${left} case(s) still unanswered: the organiser needs every case).`
      : `Saved ${link.download}. Send it to the study's organiser.`, left > 0);
  }

  function build() {
    for (let v = 1; v <= 5; v++) {
      for (const [box, field] of [['confidence', 'confidence'], ['plausibility', 'plausibility']]) {
        const b = document.createElement('button');
        b.type = 'button';
        b.textContent = String(v);
        b.dataset.value = String(v);
        b.addEventListener('click', () => set(field, v));
        $(box).appendChild(b);
      }
    }
    STUDY.modalities.forEach(([, name], i) => {
      const b = document.createElement('button');
      b.type = 'button';
      b.textContent = name;
      b.dataset.index = String(i);
      b.title = 'M / Shift+M';
      b.addEventListener('click', () => { viewer.show(i); markModality(); });
      $('modalities').appendChild(b);
    });
    for (const [value, text] of [['all', 'all sequences'], ...STUDY.modalities.map(([, n]) => [n, n])]) {
      $('comment-modality').add(new Option(text, value));
    }
    for (const region of REGIONS) $('comment-region').add(new Option(region, region));
    for (const b of $('calls').children) b.addEventListener('click', () => set('call', b.dataset.call));
    $('comment').addEventListener('input', () => { answer().comment = $('comment').value; persist(); });
    $('comment-modality').addEventListener('change', () => set('comment_modality', $('comment-modality').value));
    $('comment-region').addEventListener('change', () => set('comment_region', $('comment-region').value));
    $('reader').addEventListener('input', () => { state.reader = $('reader').value; persist(); });
    $('prev').addEventListener('click', () => go(state.position - 1));
    $('next').addEventListener('click', () => go(state.position + 1));
    $('save').addEventListener('click', save);
    $('view').addEventListener('click', () => { $('view').textContent = `view: ${viewer.nextView()}`; });
    $('labels').addEventListener('click', toggleLabels);
    $('window-reset').addEventListener('click', () => viewer.resetWindow());
    $('study-id').textContent = STUDY.study;
    $('niivue-version').textContent = STUDY.niivue;
    document.addEventListener('keydown', onKey);
    window.addEventListener('beforeunload', () => { tally(); persist(); });
  }

  function toggleLabels() {
    const on = viewer.toggleLabels();
    $('labels').textContent = `labels: ${on ? 'on' : 'off'}`;
    $('labels').setAttribute('aria-pressed', String(on));
  }

  function onKey(e) {
    const typing = ['INPUT', 'TEXTAREA', 'SELECT'].includes(e.target.tagName);
    if (typing) {
      if (e.key === 'Escape') e.target.blur();
      return;
    }
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const digit = /^Digit([1-5])$/.exec(e.code);
    const key = e.key.toLowerCase();
    let handled = true;
    if (digit) set(e.shiftKey ? 'plausibility' : 'confidence', Number(digit[1]));
    else if (key === 'r') set('call', 'real');
    else if (key === 's') set('call', 'synthetic');
    else if (key === 'n' || e.key === 'Enter') go(state.position + 1);
    else if (key === 'b') go(state.position - 1);
    else if (key === 'm') { viewer.next(e.shiftKey ? -1 : 1); markModality(); }
    else if (key === 'v') $('view').textContent = `view: ${viewer.nextView()}`;
    else if (key === 'l') toggleLabels();
    else if (key === 'w') viewer.resetWindow();
    else if (key === 'c') $('comment').focus();
    else if (e.key === '?') $('help').open ? $('help').close() : $('help').showModal();
    else handled = false;
    if (handled) e.preventDefault();
  }

  build();
  viewer.attach().then(() => go(Math.min(state.position, STUDY.cases.length - 1)))
    .catch((e) => say(`The viewer could not start (${e}); WebGL 2 must be enabled.`, true));
})();
