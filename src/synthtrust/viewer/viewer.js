/* synthtrust's case viewer on NiiVue: one case's four MR modalities in three planes (scroll: mouse wheel or
 * arrow keys over a plane; window/level: right-drag), one modality at a time, the label map as an overlay
 * that starts hidden. Volumes arrive as base64 gzipped NIfTI (see synthtrust/viewer/__init__.py). */
(function (global) {
  'use strict';

  // BraTS labels: 1 necrotic core (red), 2 oedema (green), 4 enhancing tumour (yellow)
  const LABEL_COLOURS = {
    R: [0, 230, 40, 250], G: [0, 40, 200, 230], B: [0, 40, 60, 30], A: [0, 255, 255, 255], I: [0, 1, 2, 4],
    labels: ['', 'necrotic core', 'oedema', 'enhancing tumour'],
  };
  const VIEWS = ['multiplanar', 'axial', 'coronal', 'sagittal'];
  const LABEL_OPACITY = 0.45;

  function decode(text) {
    const bytes = atob(text);
    const out = new Uint8Array(bytes.length);
    for (let i = 0; i < bytes.length; i++) out[i] = bytes.charCodeAt(i);
    return out.buffer;
  }

  class CaseViewer {
    /** @param {HTMLCanvasElement} canvas */
    constructor(canvas) {
      this.canvas = canvas;
      this.images = [];
      this.names = [];
      this.label = null;
      this.current = 0;
      this.view = 0;
      this.labelsShown = false;
      this.nv = null;
    }

    async attach() {
      this.nv = new global.niivue.Niivue({
        backColor: [0, 0, 0, 1], crosshairColor: [1, 0.3, 0.3, 0.7], show3Dcrosshair: false,
        isResizeCanvas: true, multiplanarForceRender: false,
      });
      await this.nv.attachToCanvas(this.canvas);
      this.setView(this.view);
      return this;
    }

    /** Show a case: modalities is [[name, base64], ...] in display order; label is base64 or null. */
    async load(modalities, label) {
      this.images = [];
      this.names = modalities.map(([name]) => name);
      for (const [name, data] of modalities) {
        this.images.push(await global.niivue.NVImage.new(decode(data), `${name}.nii.gz`));
      }
      this.label = null;
      if (label) {
        this.label = await global.niivue.NVImage.new(decode(label), 'label.nii.gz');
        this.label.setColormapLabel(LABEL_COLOURS);
        this.label.opacity = this.labelsShown ? LABEL_OPACITY : 0;
      }
      this.show(Math.min(this.current, this.images.length - 1));
    }

    /** Display modality i (its window/level is kept per modality). */
    show(i) {
      this.current = (i + this.images.length) % this.images.length;
      const image = this.images[this.current];
      const keep = [image, ...(this.label ? [this.label] : [])];
      // add before removing: NiiVue needs a background volume at all times
      for (const volume of keep) if (!this.nv.volumes.includes(volume)) this.nv.addVolume(volume);
      this.nv.setVolume(image, 0);
      for (const volume of [...this.nv.volumes]) if (!keep.includes(volume)) this.nv.removeVolume(volume);
      this.nv.updateGLVolume();
      return this.names[this.current];
    }

    next(step = 1) { return this.show(this.current + step); }

    setView(i) {
      this.view = (i + VIEWS.length) % VIEWS.length;
      const types = [this.nv.sliceTypeMultiplanar, this.nv.sliceTypeAxial, this.nv.sliceTypeCoronal,
        this.nv.sliceTypeSagittal];
      this.nv.setSliceType(types[this.view]);
      return VIEWS[this.view];
    }

    nextView() { return this.setView(this.view + 1); }

    toggleLabels(on) {
      this.labelsShown = on === undefined ? !this.labelsShown : on;
      if (this.label) {
        this.label.opacity = this.labelsShown ? LABEL_OPACITY : 0;
        this.nv.updateGLVolume();
      }
      return this.labelsShown;
    }

    /** Back to the robust intensity range of the shown modality. */
    resetWindow() {
      const image = this.images[this.current];
      image.cal_min = image.robust_min;
      image.cal_max = image.robust_max;
      this.nv.updateGLVolume();
    }

    /** Move the crosshair (and so the displayed slices) by whole voxels. */
    step(dx, dy, dz) { this.nv.moveCrosshairInVox(dx, dy, dz); }

    /** Keep another viewer's slices, zoom and crosshair with this one's, both ways. */
    link(other) {
      this.nv.broadcastTo(other.nv, { '2d': true, '3d': true });
      other.nv.broadcastTo(this.nv, { '2d': true, '3d': true });
    }
  }

  global.SynthtrustViewer = { CaseViewer, VIEWS, decode };
})(window);
