// The whole-history timeline: draws only the operations in view (binary search on start times and on the
// running maximum of end times), so that a million operations pan and zoom smoothly. Everything from the
// history reaches the page through textContent, never as markup.
(function () {
  'use strict';
  var began = performance.now();
  var holder = document.getElementById('timeline-data');
  var canvas = document.getElementById('tl');
  if (!holder || !canvas) return;
  var D = JSON.parse(holder.textContent);
  var n = D.s.length;
  var start = new Float64Array(n), end = new Float64Array(n), maxEnd = new Float64Array(n);
  var pos = new Float64Array(n);
  var t = 0, p = 0, m = -Infinity, i;
  for (i = 0; i < n; i++) {
    t += D.s[i]; start[i] = t; end[i] = t + D.d[i];
    if (end[i] > m) m = end[i];
    maxEnd[i] = m;
    p += D.p[i]; pos[i] = p;
  }
  var mark = new Map();
  D.marks.forEach(function (x) { mark.set(x[0], x[1]); });
  var lanes = Math.max(1, D.lanes);
  var first = n ? start[0] : 0, last = Math.max(D.end, n ? m : 0);
  if (last <= first) last = first + 1;
  var view = { t0: first, t1: last };
  var ctx = canvas.getContext('2d');
  var dpr = window.devicePixelRatio || 1;
  var AXIS = 20;
  var laneH = Math.max(2, Math.min(16, Math.floor(560 / lanes)));
  var cssH = Math.max(120, lanes * laneH + AXIS + 6);
  canvas.style.height = cssH + 'px';
  var W = 0, H = 0;
  var COLOURS = ['#2da44e', '#cf222e', '#d4a72c', '#8c959f'];
  var status = document.getElementById('tl-status');
  var detail = document.getElementById('tl-detail');

  function resize() {
    W = canvas.clientWidth || 1200; H = cssH;
    canvas.width = Math.round(W * dpr); canvas.height = Math.round(H * dpr);
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  }
  // First index whose value is >= x (arr sorted ascending).
  function lowerBound(arr, x) {
    var lo = 0, hi = arr.length;
    while (lo < hi) { var mid = (lo + hi) >>> 1; if (arr[mid] < x) lo = mid + 1; else hi = mid; }
    return lo;
  }
  function upperBound(arr, x) {
    var lo = 0, hi = arr.length;
    while (lo < hi) { var mid = (lo + hi) >>> 1; if (arr[mid] <= x) lo = mid + 1; else hi = mid; }
    return lo;
  }
  function display(tv) { return D.unit === 'ns' ? tv / 1e9 : tv; }
  function unitName() { return D.unit === 'ns' ? 's' : 'event'; }
  function niceStep(span, target) {
    var raw = span / target, mag = Math.pow(10, Math.floor(Math.log10(raw))), r = raw / mag;
    return (r < 1.5 ? 1 : r < 3.5 ? 2 : r < 7.5 ? 5 : 10) * mag;
  }
  function fmt(v, step) {
    var digits = Math.max(0, Math.min(9, -Math.floor(Math.log10(step))));
    return v.toFixed(digits);
  }

  function draw() {
    var drawStart = performance.now();
    var k = W / (view.t1 - view.t0);
    ctx.clearRect(0, 0, W, H);
    ctx.fillStyle = '#fff'; ctx.fillRect(0, 0, W, H);
    ctx.font = '11px system-ui, sans-serif';
    // Axis.
    var span = display(view.t1) - display(view.t0), step = niceStep(span, Math.max(2, W / 110));
    ctx.fillStyle = '#57606a'; ctx.strokeStyle = '#eaeef2'; ctx.lineWidth = 1;
    for (var tick = Math.ceil(display(view.t0) / step) * step; tick <= display(view.t1); tick += step) {
      var tx = (tick - display(view.t0)) / span * W;
      ctx.beginPath(); ctx.moveTo(tx + 0.5, AXIS - 4); ctx.lineTo(tx + 0.5, H); ctx.stroke();
      ctx.fillText(fmt(tick, step) + ' ' + unitName(), tx + 3, 12);
    }
    // Operations in view: start <= t1 and end >= t0.
    var lo = lowerBound(maxEnd, view.t0), hi = upperBound(start, view.t1);
    var lastX = new Float64Array(lanes).fill(-1), lastC = new Int8Array(lanes).fill(-1);
    var current = -1, drawn = 0, h = Math.max(1, laneH - (laneH > 4 ? 3 : 1));
    var marked = [];
    for (i = lo; i < hi; i++) {
      if (end[i] < view.t0) continue;
      if (mark.has(i)) { marked.push(i); continue; }
      var lane = D.l[i], c = D.o[i];
      // Whole pixels: many operations share one when zoomed out, and what would paint the same pixels of
      // a lane in the same colour again is skipped.
      var x0 = Math.floor((start[i] - view.t0) * k), x1 = Math.ceil((end[i] - view.t0) * k);
      if (x1 - x0 < 1) x1 = x0 + 1;
      if (x1 <= lastX[lane] && lastC[lane] === c) continue;
      if (c !== current) { ctx.fillStyle = COLOURS[c]; current = c; }
      ctx.fillRect(x0, AXIS + 3 + lane * laneH, x1 - x0, h);
      if (x1 > lastX[lane]) { lastX[lane] = x1; lastC[lane] = c; }
      drawn++;
    }
    marked.forEach(function (j) {
      var x0 = (start[j] - view.t0) * k, x1 = Math.max(x0 + 2, (end[j] - view.t0) * k), y = AXIS + 3 + D.l[j] * laneH;
      ctx.fillStyle = mark.get(j) ? '#cf222e' : COLOURS[D.o[j]];
      ctx.fillRect(x0, y, x1 - x0, h);
      ctx.strokeStyle = '#1f2328'; ctx.lineWidth = 2;
      ctx.strokeRect(x0 - 1, y - 1, x1 - x0 + 2, h + 2);
      drawn++;
    });
    // Faults, over the operations (translucent), so that they show however dense the lanes are.
    D.faults.forEach(function (f) {
      if (f[1] < view.t0 || f[0] > view.t1) return;
      var x0 = Math.max(0, (f[0] - view.t0) * k), x1 = Math.min(W, (f[1] - view.t0) * k);
      ctx.fillStyle = 'rgba(207,34,46,0.16)';
      ctx.fillRect(x0, AXIS, Math.max(1, x1 - x0), H - AXIS);
      ctx.strokeStyle = 'rgba(207,34,46,0.6)'; ctx.lineWidth = 1;
      ctx.strokeRect(x0 + 0.5, AXIS + 0.5, Math.max(1, x1 - x0) - 1, H - AXIS - 1);
      ctx.fillStyle = '#a40e26';
      ctx.fillText(String(D.faultNames[f[2]]), x0 + 3, H - 4);
    });
    status.textContent = 'Drawing ' + drawn + ' of ' + n + ' operations (' + (hi - lo) + ' in view), ' + lanes +
      ' lanes; ' + fmt(display(view.t0), step / 100) + ' – ' + fmt(display(view.t1), step / 100) + ' ' + unitName() + ' (' + (performance.now() - drawStart).toFixed(0) + ' ms).';
  }

  var pending = false;
  function redraw() {
    if (pending) return;
    pending = true;
    window.requestAnimationFrame(function () { pending = false; draw(); });
  }
  function clampView() {
    var full = last - first, minSpan = D.unit === 'ns' ? 1000 : 4;
    var span = Math.min(Math.max(view.t1 - view.t0, minSpan), full * 1.2);
    if (view.t0 < first - full * 0.1) view.t0 = first - full * 0.1;
    if (view.t0 + span > last + full * 0.1) view.t0 = last + full * 0.1 - span;
    view.t1 = view.t0 + span;
  }
  canvas.addEventListener('wheel', function (ev) {
    ev.preventDefault();
    var rect = canvas.getBoundingClientRect(), fx = (ev.clientX - rect.left) / rect.width;
    var at = view.t0 + fx * (view.t1 - view.t0), factor = Math.exp(ev.deltaY * 0.002);
    var span = (view.t1 - view.t0) * factor;
    view.t0 = at - fx * span; view.t1 = view.t0 + span;
    clampView(); redraw();
  }, { passive: false });
  var drag = null;
  canvas.addEventListener('mousedown', function (ev) {
    drag = { x: ev.clientX, y: ev.clientY, t0: view.t0, t1: view.t1, moved: false };
    canvas.style.cursor = 'grabbing';
  });
  window.addEventListener('mousemove', function (ev) {
    if (!drag) return;
    var dx = ev.clientX - drag.x;
    if (Math.abs(dx) > 3) drag.moved = true;
    var dt = dx / W * (drag.t1 - drag.t0);
    view.t0 = drag.t0 - dt; view.t1 = drag.t1 - dt;
    clampView(); redraw();
  });
  window.addEventListener('mouseup', function (ev) {
    if (!drag) return;
    var clicked = !drag.moved;
    drag = null; canvas.style.cursor = 'grab';
    if (clicked) pick(ev);
  });

  function pick(ev) {
    var rect = canvas.getBoundingClientRect();
    var x = ev.clientX - rect.left, y = ev.clientY - rect.top;
    var lane = Math.floor((y - AXIS - 3) / laneH);
    if (lane < 0 || lane >= lanes) return;
    var k = W / (view.t1 - view.t0), at = view.t0 + x / k, tol = 3 / k;
    var lo = lowerBound(maxEnd, at - tol), hi = upperBound(start, at + tol), best = -1, bestD = Infinity;
    for (var j = lo; j < hi; j++) {
      if (D.l[j] !== lane || end[j] < at - tol) continue;
      var d = at < start[j] ? start[j] - at : at > end[j] ? at - end[j] : 0;
      if (d < bestD) { bestD = d; best = j; }
    }
    if (best >= 0) show(best);
  }

  var OUTCOMES = ['ok', 'fail', 'info', 'info (never completed)'];
  function eventText(j, completion) {
    var at = completion ? pos[j] + D.c[j] : pos[j];
    if (D.lines) return D.lines[at];
    var e = { index: at };
    if (D.unit === 'ns') e.time = completion ? end[j] : start[j];
    e.type = completion ? ['ok', 'fail', 'info', 'info'][D.o[j]] : 'invoke';
    e.process = D.q[j];
    e.f = D.F[D.f[j]];
    if (D.k[j]) e.key = D.K[D.k[j]];
    e.value = completion ? D.r[j] : D.v[j];
    if (completion && D.e[j]) e.error = D.E[D.e[j]];
    if (D.n[j]) e.node = D.N[D.n[j]];
    return JSON.stringify(e);
  }
  function show(j) {
    var text = 'process ' + D.q[j] + ', ' + D.F[D.f[j]] + ', ' + OUTCOMES[D.o[j]] + ', ' +
      (D.unit === 'ns' ? ((end[j] - start[j]) / 1e6).toFixed(3) + ' ms' : (end[j] - start[j]) + ' events') +
      (mark.has(j) ? (mark.get(j) ? '  (the operation that cannot be placed)' : '  (in a counterexample)') : '') + '\n' +
      eventText(j, false) + (D.c[j] ? '\n' + eventText(j, true) : '') +
      (D.lines ? '' : '\n(lines rebuilt from the report\'s data: the history was too large to embed)');
    detail.textContent = text;
  }

  document.getElementById('tl-reset').addEventListener('click', function () {
    view.t0 = first; view.t1 = last; redraw();
  });
  var zoom = document.getElementById('tl-anomaly');
  if (zoom) zoom.addEventListener('click', function () {
    if (!D.marks.length) { detail.textContent = 'No anomaly to show.'; return; }
    var a = Infinity, b = -Infinity;
    D.marks.forEach(function (x) { a = Math.min(a, start[x[0]]); b = Math.max(b, end[x[0]]); });
    var pad = Math.max((b - a) * 0.15, D.unit === 'ns' ? 1000 : 2);
    view.t0 = a - pad; view.t1 = b + pad; clampView(); redraw();
    show((D.marks.find(function (x) { return x[1]; }) || D.marks[0])[0]);
  });
  window.addEventListener('resize', function () { resize(); redraw(); });
  resize();
  draw();
  document.body.setAttribute('data-timeline', 'ready');
  document.body.setAttribute('data-timeline-ms', (performance.now() - began).toFixed(0));
})();
