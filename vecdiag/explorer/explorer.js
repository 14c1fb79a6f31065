// vecdiag explorer: the front-end of vd.explore (an anywidget ES module).
// Safety rule: every string that came from the user's data is inserted with textContent
// (never parsed as HTML), so a "<script>" in a document is shown as text.

const CSS = `
.vdx{display:flex;gap:10px;font:13px/1.35 system-ui,sans-serif;color:#222}
.vdx-map{position:relative;flex:0 0 auto;border:1px solid #ddd;background:#fff;cursor:crosshair}
.vdx-map canvas{position:absolute;left:0;top:0}
.vdx-tip{position:absolute;pointer-events:none;background:#fffff4;border:1px solid #aaa;
 padding:4px 6px;max-width:280px;font-size:12px;display:none;z-index:2;white-space:normal}
.vdx-tip b{display:block}
.vdx-panel{flex:1 1 320px;min-width:280px;max-width:520px;overflow:auto}
.vdx h4{margin:8px 0 3px;font-size:13px}
.vdx-panel select{max-width:100%;width:100%}
.vdx-list{margin:0;padding-left:0;list-style:none}
.vdx-list li{padding:2px 4px;border-bottom:1px solid #eee;cursor:pointer}
.vdx-list li.vdx-exp{background:#fff4c2}
.vdx-list li.vdx-in{border-left:4px solid #2a9d4a}
.vdx-id{font-weight:600;margin-right:4px}
.vdx-score{float:right;color:#555;font-variant-numeric:tabular-nums}
.vdx-text{display:block;color:#555;font-size:12px}
.vdx-muted{color:#777;font-size:12px}
.vdx-rec{background:#e8f4ff;padding:4px 6px;border-left:4px solid #1f6feb;margin:4px 0}
.vdx-cause{margin:2px 0;font-size:12px}
.vdx-bd td{padding:0 6px;font-size:12px;text-align:right}
.vdx-legend span{display:inline-block;margin-right:8px;font-size:11px}
.vdx-legend i{display:inline-block;width:9px;height:9px;margin-right:3px;vertical-align:middle}
`;

const HUB = "#e07b00";          // a hub: in the top-k of >= 2k documents' lists
const HUB_STRONG = "#c0142b";   // a strong hub: >= 3k
const PALETTE = ["#8aa1b4", "#d1495b", "#edae49", "#66a182", "#00798c", "#8e6c8a",
  "#f28e2b", "#59a14f", "#b07aa1", "#9c755f", "#bab0ac"];

function h(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

function floats(view) {
  // a DataView (or ArrayBuffer) of little-endian float32, copied to an aligned array
  if (!view) return new Float32Array(0);
  const buf = view.buffer ? view.buffer.slice(view.byteOffset, view.byteOffset + view.byteLength) : view;
  return new Float32Array(buf);
}

function bytes(view) {
  if (!view) return new Uint8Array(0);
  return view.buffer ? new Uint8Array(view.buffer, view.byteOffset, view.byteLength) : new Uint8Array(view);
}

function rgba(hex) {
  const v = parseInt(hex.slice(1), 16);
  return [(v >> 16) & 255, (v >> 8) & 255, v & 255];
}

function render({ model, el }) {
  const t0 = performance.now();
  const root = h("div", "vdx");
  const style = h("style");
  style.textContent = CSS;
  root.append(style);
  const H = model.get("height") || 540;
  const W = model.get("width") || 620;
  const dpr = window.devicePixelRatio || 1;
  const map = h("div", "vdx-map");
  map.style.width = W + "px";
  map.style.height = H + "px";
  const base = h("canvas"), over = h("canvas");
  for (const c of [base, over]) {
    c.width = Math.round(W * dpr); c.height = Math.round(H * dpr);
    c.style.width = W + "px"; c.style.height = H + "px";
  }
  const tip = h("div", "vdx-tip");
  map.append(base, over, tip);
  const panel = h("div", "vdx-panel");
  const left = h("div");
  const legend = h("div", "vdx-legend");
  legend.style.maxWidth = W + "px";
  const bd = h("div");
  bd.style.maxWidth = W + "px";
  left.append(map, legend, h("h4", null, "Cosine breakdown (click a document)"), bd);
  root.append(left, panel);
  el.append(root);

  const undo = [];   // listeners removed when the view goes away
  const listen = (name, fn) => { model.on(name, fn); undo.push(() => model.off(name, fn)); };
  const onWindow = (name, fn) => {
    window.addEventListener(name, fn); undo.push(() => window.removeEventListener(name, fn));
  };

  // ------------------------------------------------------------------ data
  let xy = floats(model.get("points"));
  let colors = bytes(model.get("colors"));
  let n = xy.length >> 1;
  let cam = { k: 1, tx: 0, ty: 0 };          // zoom and pan on top of the fitted frame
  let sx = new Float32Array(n), sy = new Float32Array(n);   // screen positions (CSS px)
  let grid = null;
  const CELL = 8;
  let state = { fix: model.get("fix") || "", clicked: -1, hover: -1 };
  const docCache = new Map();

  function frame() {
    const b = model.get("bounds") || [0, 1, 0, 1];
    const pad = 14;
    const w = (b[1] - b[0]) || 1, hgt = (b[3] - b[2]) || 1;
    const s = Math.min((W - 2 * pad) / w, (H - 2 * pad) / hgt);
    const ox = (W - s * w) / 2, oy = (H - s * hgt) / 2;
    return (x, y) => [cam.k * (ox + (x - b[0]) * s) + cam.tx, cam.k * (H - oy - (y - b[2]) * s) + cam.ty];
  }

  function layout() {
    const f = frame();
    for (let i = 0; i < n; i++) {
      const p = f(xy[2 * i], xy[2 * i + 1]);
      sx[i] = p[0]; sy[i] = p[1];
    }
    // counting sort of the points into CELL x CELL screen cells, for hover look-ups
    const gw = Math.ceil(W / CELL) + 1, gh = Math.ceil(H / CELL) + 1;
    const start = new Int32Array(gw * gh + 1), cellOf = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const cx = Math.floor(sx[i] / CELL), cy = Math.floor(sy[i] / CELL);
      const c = (cx < 0 || cy < 0 || cx >= gw || cy >= gh || !isFinite(sx[i])) ? -1 : cy * gw + cx;
      cellOf[i] = c;
      if (c >= 0) start[c + 1]++;
    }
    for (let c = 0; c < gw * gh; c++) start[c + 1] += start[c];
    const fill = start.slice(0, gw * gh), items = new Int32Array(start[gw * gh]);
    for (let i = 0; i < n; i++) if (cellOf[i] >= 0) items[fill[cellOf[i]]++] = i;
    grid = { gw, gh, start, items };
  }

  function drawBase() {
    const ctx = base.getContext("2d");
    const w = base.width, hh = base.height;
    const img = ctx.createImageData(w, hh);
    const px = new Uint32Array(img.data.buffer);
    const pal = PALETTE.map(rgba).map(([r, g, b]) => (255 << 24) | (b << 16) | (g << 8) | r);
    const size = Math.max(1, Math.round((n > 20000 ? 2 : 4) * dpr));
    for (let i = 0; i < n; i++) {
      const x0 = Math.round(sx[i] * dpr - size / 2), y0 = Math.round(sy[i] * dpr - size / 2);
      if (!(x0 >= 0 && y0 >= 0 && x0 + size <= w && y0 + size <= hh)) continue;
      const c = pal[(colors.length ? colors[i] : 0) % pal.length];
      for (let dy = 0; dy < size; dy++) {
        const row = (y0 + dy) * w + x0;
        for (let dx = 0; dx < size; dx++) px[row + dx] = c;
      }
    }
    ctx.putImageData(img, 0, 0);
    root.dataset.points = String(n);
  }

  function currentList(view) {
    if (!view || !view.base) return null;
    const fx = (view.fixes || []).find((f) => f.fix === state.fix);
    return fx || null;
  }

  function drawOverlay() {
    const ctx = over.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, W, H);
    const view = model.get("view");
    if (!view || !view.query) return;
    const f = frame();
    const [qx, qy] = f(view.query.xy[0], view.query.xy[1]);
    const fx = currentList(view);
    const top = fx ? fx.top : view.base;
    ctx.lineWidth = 1;
    ctx.strokeStyle = "rgba(31,111,235,0.45)";
    ctx.beginPath();
    for (const r of top) { ctx.moveTo(qx, qy); ctx.lineTo(sx[r], sy[r]); }
    ctx.stroke();
    const ring = (r, color, rad, width) => {
      ctx.strokeStyle = color; ctx.lineWidth = width; ctx.beginPath();
      ctx.arc(sx[r], sy[r], rad, 0, 2 * Math.PI); ctx.stroke();
    };
    // hubs (in the top-k of >= 2k documents' lists, as vd.diagnose counts them) in orange;
    // strong hubs (>= 3k, the bar of explain's hub cause) larger, in red
    const strong = new Set(view.strong_hubs || []);
    for (const r of view.hubs || []) {
      const z = strong.has(r) ? 1.4 : 1;
      ctx.fillStyle = strong.has(r) ? HUB_STRONG : HUB; ctx.beginPath();
      ctx.moveTo(sx[r], sy[r] - 6 * z); ctx.lineTo(sx[r] + 5 * z, sy[r] + 4 * z);
      ctx.lineTo(sx[r] - 5 * z, sy[r] + 4 * z);
      ctx.closePath(); ctx.fill();
    }
    if (fx) for (const r of fx.leaving) ring(r, "#999", 5, 1.5);
    for (const r of top) ring(r, "#1f6feb", 4.5, 2);
    if (fx) for (const r of fx.entering) ring(r, "#2a9d4a", 7, 2.5);
    for (const e of view.expected || []) {
      ctx.fillStyle = "#f0b400"; ctx.strokeStyle = "#6b5000"; ctx.lineWidth = 1;
      ctx.beginPath(); ctx.rect(sx[e.row] - 4, sy[e.row] - 4, 8, 8); ctx.fill(); ctx.stroke();
    }
    if (state.clicked >= 0) ring(state.clicked, "#000", 8, 1.5);
    ctx.fillStyle = "#111"; ctx.beginPath();
    ctx.moveTo(qx, qy - 8); ctx.lineTo(qx + 8, qy); ctx.lineTo(qx, qy + 8); ctx.lineTo(qx - 8, qy);
    ctx.closePath(); ctx.fill();
  }

  // ------------------------------------------------------------------ panel
  const picker = h("select"); picker.setAttribute("aria-label", "query");
  const status = h("div", "vdx-muted");
  const recBox = h("div");
  const fixSel = h("select"); fixSel.setAttribute("aria-label", "fix");
  const fixNote = h("div", "vdx-muted");
  const list = h("ol", "vdx-list");
  const moves = h("div", "vdx-muted");
  const causes = h("div");
  const qbox = h("div");
  const pickNote = h("div", "vdx-muted");   // how many queries the picker leaves out
  panel.append(h("h4", null, "Query (worst nDCG@10 first)"), picker, pickNote, qbox, status, recBox,
    h("h4", null, "Fix"), fixSel, fixNote, h("h4", null, "Ranked list"), list, moves,
    h("h4", null, "Causes"), causes);
  panel.style.maxHeight = (H + 160) + "px";

  function fillPicker() {
    picker.replaceChildren();
    const qs = model.get("queries") || [];
    picker.disabled = qs.length === 0;
    if (!qs.length) picker.append(h("option", null, "no queries given"));
    for (const q of qs) {
      const label = (q.ndcg === null || q.ndcg === undefined ? "" : "nDCG " + q.ndcg.toFixed(2) + " · ")
        + q.id + (q.text ? " · " + q.text : "");
      const o = h("option", null, label); o.value = String(q.i); picker.append(o);
    }
    const sel = model.get("selected");
    if (sel >= 0) picker.value = String(sel);
    pickNote.textContent = model.get("queries_note") || "";
  }

  function fillLegend() {
    legend.replaceChildren();
    const names = model.get("legend") || [];
    names.forEach((name, i) => {
      const s = h("span"); const sw = h("i"); sw.style.background = PALETTE[i % PALETTE.length];
      s.append(sw, document.createTextNode(name)); legend.append(s);
    });
    const marks = [["◆", "query"], ["○", "top-k"], ["■", "expected"],
      ["▲", "hub (in the top-k of ≥ 2k documents)", HUB], ["▲", "strong hub (≥ 3k)", HUB_STRONG],
      ["◎", "entering"]];
    for (const [m, name, color] of marks) {
      const s = h("span", null, m + " " + name);
      if (color) s.style.color = color;
      legend.append(s);
    }
  }

  function fillView() {
    const view = model.get("view");
    qbox.replaceChildren();
    causes.replaceChildren(); recBox.replaceChildren(); fixSel.replaceChildren();
    fixSel.disabled = !view || !view.query;
    if (!view || !view.query) {
      if (!(model.get("queries") || []).length) {
        qbox.append(h("div", "vdx-muted", "Pass queries= (and qrels=) to vd.explore to place "
          + "queries on this map and see their neighbours, causes and fixes."));
      }
      fillList();
      return;
    }
    if (view.query.text) qbox.append(h("div", "vdx-muted", "“" + view.query.text + "”"));
    if (view.hub_note) qbox.append(h("div", "vdx-muted", "▲ " + view.hub_note));
    if (view.expected_note) qbox.append(h("div", "vdx-muted", "■ " + view.expected_note));
    const none = h("option", null, "as searched (no fix)"); none.value = ""; fixSel.append(none);
    for (const f of view.fixes) {
      const o = h("option", null, (f.recommended ? "★ recommended: " : "") + f.fix
        + (f.moved ? "" : " (no change)"));
      o.value = f.fix; fixSel.append(o);
    }
    if (!view.fixes.some((f) => f.fix === state.fix)) state.fix = "";
    fixSel.value = state.fix;
    const rec = view.fixes.find((f) => f.recommended);
    if (rec) {
      const box = h("div", "vdx-rec");
      box.append(h("b", null, "Recommended: " + rec.fix),
        h("div", null, view.recommendation_text || rec.note));
      if (rec.global_delta !== undefined) box.append(h("div", "vdx-muted", "over the judged queries: " + rec.global_delta));
      recBox.append(box);
    } else if (view.recommendation_text) {
      recBox.append(h("div", "vdx-muted", view.recommendation_text));
    }
    if (!view.causes.length) causes.append(h("div", "vdx-muted", "no cause found"));
    for (const c of view.causes) {
      const d = h("div", "vdx-cause");
      d.append(h("b", null, c.code + (c.ranking ? "" : " (context)") + " " + c.confidence.toFixed(2) + ": "),
        document.createTextNode(c.summary));
      causes.append(d);
    }
    fillList();
  }

  function fillList() {
    const t = performance.now();
    list.replaceChildren(); moves.replaceChildren(); fixNote.replaceChildren();
    const view = model.get("view");
    if (view && view.query) {
      const fx = currentList(view);
      const top = fx ? fx.top : view.base;
      const exp = new Set((view.expected || []).map((e) => e.row));
      const entering = new Set(fx ? fx.entering : []);
      top.forEach((r, j) => {
        const d = view.docs[String(r)] || {};
        const li = h("li", (exp.has(r) ? "vdx-exp " : "") + (entering.has(r) ? "vdx-in" : ""));
        li.dataset.row = String(r); li.dataset.id = String(d.id);
        li.append(h("span", "vdx-id", (j + 1) + ". " + d.id + (exp.has(r) ? " ★" : "")
          + (entering.has(r) ? " ↑new" : "")));
        if (!fx && d.score !== undefined) li.append(h("span", "vdx-score", d.score.toFixed(3)));
        if (d.text) li.append(h("span", "vdx-text", d.text));
        li.addEventListener("click", () => clickDoc(r));
        li.addEventListener("mouseenter", () => { state.hover = r; showTip(r, sx[r], sy[r]); });
        li.addEventListener("mouseleave", () => hideTip());
        list.append(li);
      });
      if (fx) {
        fixNote.textContent = fx.note + (fx.exact ? "" : " (approximate)");
        if (fx.leaving.length) moves.append(h("div", null, "left the top-k: "
          + fx.leaving.map((r) => (view.docs[String(r)] || {}).id).join(", ")));
        for (const e of fx.expected_ranks) {
          const was = (view.expected.find((x) => String(x.id) === String(e.id)) || {}).rank;
          moves.append(h("div", null, "expected " + e.id + ": rank " + was + " → " + e.rank));
        }
      } else {
        for (const e of view.expected || []) if (e.rank > view.k) {
          moves.append(h("div", null, "expected " + e.id + " missed: rank " + e.rank + ", score " + e.score));
        }
      }
    }
    drawOverlay();
    root.dataset.redrawMs = (performance.now() - t).toFixed(2);
    root.dataset.fix = state.fix;
  }

  function fillBreakdown() {
    bd.replaceChildren();
    const b = model.get("breakdown");
    if (!b || b.row === undefined) return;
    if (b.error) { bd.append(h("div", "vdx-muted", b.id + ": " + b.error)); return; }
    bd.append(h("div", null, "query · " + b.id + ": dot " + b.dot + " / (" + b.norm_q + " × "
      + b.norm_d + ") = cosine " + b.cosine));
    const table = h("table", "vdx-bd");
    const head = h("tr");
    for (const c of ["dim", "query", "doc", "share of cosine"]) head.append(h("th", null, c));
    table.append(head);
    for (const d of b.dims) {
      const tr = h("tr");
      for (const v of [d.dim, d.q, d.d, d.contribution]) tr.append(h("td", null, v));
      table.append(tr);
    }
    bd.append(table);
  }

  // ------------------------------------------------------------------ hover & click
  function nearest(x, y, radius) {
    if (!grid) return -1;
    const { gw, gh, start, items } = grid;
    const cx = Math.floor(x / CELL), cy = Math.floor(y / CELL), reach = Math.ceil(radius / CELL);
    let best = -1, bestD = radius * radius;
    for (let gy = cy - reach; gy <= cy + reach; gy++) {
      if (gy < 0 || gy >= gh) continue;
      for (let gx = cx - reach; gx <= cx + reach; gx++) {
        if (gx < 0 || gx >= gw) continue;
        const c = gy * gw + gx;
        for (let j = start[c]; j < start[c + 1]; j++) {
          const i = items[j], dx = sx[i] - x, dy = sy[i] - y, d = dx * dx + dy * dy;
          if (d < bestD || (d === bestD && i < best)) { bestD = d; best = i; }
        }
      }
    }
    return best;
  }

  function tipContent(d) {
    tip.replaceChildren(h("b", null, String(d.id)));
    if (d.text) tip.append(h("span", null, d.text));
    if (d.score !== undefined) tip.append(h("div", "vdx-muted", "score " + Number(d.score).toFixed(4)));
    if (d.hub) tip.append(h("div", "vdx-muted", d.hub));
  }

  function showTip(r, x, y) {
    tip.style.display = "block";
    tip.style.left = Math.min(x + 12, W - 200) + "px";
    tip.style.top = Math.min(y + 12, H - 60) + "px";
    tip.dataset.row = String(r);
    if (docCache.has(r)) { tipContent(docCache.get(r)); return; }
    tip.replaceChildren(h("b", null, "…"));
    model.send({ kind: "doc", row: r });
  }

  function hideTip() { tip.style.display = "none"; state.hover = -1; }

  function clickDoc(r) {
    state.clicked = r;
    model.send({ kind: "breakdown", row: r });
    drawOverlay();
  }

  over.addEventListener("mousemove", (ev) => {
    if (drag) return;
    const rect = over.getBoundingClientRect();
    const x = ev.clientX - rect.left, y = ev.clientY - rect.top;
    const r = nearest(x, y, 7);
    if (r < 0) { hideTip(); return; }
    if (r !== state.hover) { state.hover = r; showTip(r, sx[r], sy[r]); }
  });
  over.addEventListener("mouseleave", hideTip);
  let drag = null;
  over.addEventListener("mousedown", (ev) => { drag = { x: ev.clientX, y: ev.clientY, moved: false }; });
  onWindow("mouseup", (ev) => {
    if (!drag) return;
    const moved = drag.moved; drag = null;
    if (moved) return;
    const rect = over.getBoundingClientRect();
    const r = nearest(ev.clientX - rect.left, ev.clientY - rect.top, 7);
    if (r >= 0 && ev.target === over) clickDoc(r);
  });
  onWindow("mousemove", (ev) => {
    if (!drag) return;
    const dx = ev.clientX - drag.x, dy = ev.clientY - drag.y;
    if (Math.abs(dx) + Math.abs(dy) < 3 && !drag.moved) return;
    drag.moved = true; drag.x = ev.clientX; drag.y = ev.clientY;
    cam.tx += dx; cam.ty += dy; redrawAll();
  });
  over.addEventListener("wheel", (ev) => {
    ev.preventDefault();
    const rect = over.getBoundingClientRect();
    const x = ev.clientX - rect.left, y = ev.clientY - rect.top;
    const f = Math.exp(-ev.deltaY * 0.0015);
    cam.tx = x - (x - cam.tx) * f; cam.ty = y - (y - cam.ty) * f; cam.k *= f;
    redrawAll();
  }, { passive: false });
  over.addEventListener("dblclick", () => { cam = { k: 1, tx: 0, ty: 0 }; redrawAll(); });

  function redrawAll() { layout(); drawBase(); drawOverlay(); }

  // ------------------------------------------------------------------ wiring
  picker.addEventListener("change", () => {
    state.clicked = -1;
    model.set("selected", Number(picker.value)); model.save_changes();
  });
  fixSel.addEventListener("change", () => {
    state.fix = fixSel.value;
    model.set("fix", state.fix); model.save_changes();
    fillList();
  });
  const onMsg = (msg) => {
    if (msg && msg.kind === "doc") {
      docCache.set(msg.row, msg);
      if (state.hover === msg.row && tip.dataset.row === String(msg.row)) tipContent(msg);
    }
  };
  listen("msg:custom", onMsg);
  const onView = () => { docCache.clear(); fillView(); };
  listen("change:view", onView);
  listen("change:queries", fillPicker);
  listen("change:queries_note", fillPicker);
  listen("change:selected", fillPicker);
  listen("change:breakdown", fillBreakdown);
  listen("change:status", () => { status.textContent = model.get("status") || ""; });
  listen("change:fix", () => {
    const f = model.get("fix") || "";
    if (f !== state.fix) { state.fix = f; fixSel.value = f; fillList(); }
  });
  const onPoints = () => {
    xy = floats(model.get("points")); colors = bytes(model.get("colors"));
    n = xy.length >> 1; sx = new Float32Array(n); sy = new Float32Array(n);
    redrawAll();
  };
  listen("change:points", onPoints);

  // test and measurement hooks: where a corpus row sits on screen (client coordinates)
  root.vdPoint = (r) => {
    const rect = over.getBoundingClientRect();
    return [rect.left + sx[r], rect.top + sy[r]];
  };
  layout(); drawBase(); fillPicker(); fillLegend(); fillView(); fillBreakdown();
  status.textContent = model.get("status") || "";
  root.dataset.openMs = (performance.now() - t0).toFixed(1);
  root.dataset.ready = "1";
  // the static view printed beside the widget (for notebooks rendered to HTML) steps aside
  const hideStatic = () => {
    const area = el.closest(".jp-OutputArea, .output_area, .output, .cell-output-container");
    const scope = area ? (area.parentElement || area) : null;
    if (scope) scope.querySelectorAll(".vdx-static").forEach((s) => { s.style.display = "none"; });
  };
  hideStatic();
  for (const ms of [100, 1000, 3000]) setTimeout(hideStatic, ms);
  return () => { for (const f of undo) f(); };
}

export default { render };
