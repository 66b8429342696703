// The graph view: a small force layout drawn in SVG, written for this viewer.
//
// Nodes repel each other, relationships pull their ends together, a weak pull keeps the
// whole near the centre; the simulation cools and stops (then `data-settled` is set on the
// SVG). Readable at a few hundred nodes: labels show for the seed, the best-connected nodes,
// the hovered node's neighbourhood, and for everything once zoomed in. Wheel zooms, dragging
// the background pans, dragging a node moves it, clicking a node opens it, a double click on
// the background fits the graph to the view again.

const SVG = "http://www.w3.org/2000/svg";

const KIND_COLOURS = {
  error: "#c0392b", problem: "#e67e22", fix: "#27ae60", solution: "#2e8b57",
  decision: "#8e44ad", pattern: "#2980b9", convention: "#16a085", preference: "#c9a227",
  task: "#7f8c8d", technology: "#34495e", file: "#8d6e63", concept: "#3f51b5",
  person: "#d63384", note: "#95a5a6",
};
const OTHER_COLOURS = ["#00897b", "#6d4c41", "#5e35b1", "#f4511e", "#039be5", "#7cb342"];

/// The colour of a kind: fixed for the well-known kinds, stable for any other.
export function kindColour(kind) {
  if (KIND_COLOURS[kind]) return KIND_COLOURS[kind];
  let hash = 0;
  for (const c of kind) hash = (hash * 31 + c.codePointAt(0)) >>> 0;
  return OTHER_COLOURS[hash % OTHER_COLOURS.length];
}

// Layout constants, in world units.
const REPULSION = 220;      // many-body strength
const LINK_PULL = 0.08;     // spring strength
const GRAVITY = 0.015;      // pull towards the centre
const DECAY = 0.6;          // velocity kept per tick
const COOLING = 0.025;      // alpha lost per tick (about 250 ticks from hot to settled)
const SETTLED = 0.004;
const FRAME_BUDGET_MS = 12; // layout time per animation frame
const ALWAYS_LABELLED = 60; // below this many nodes (edges), every node (edge) is labelled
const ZOOMED_IN = 1.6;      // from this zoom on, every label shows

function el(tag, attrs = {}) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

function shorten(text, n) {
  return text.length > n ? text.slice(0, n - 1) + "…" : text;
}

export class GraphView {
  constructor(svg, { onOpen }) {
    this.svg = svg;
    this.onOpen = onOpen;
    this.nodes = [];
    this.edges = [];
    this.byId = new Map();
    this.t = { x: 0, y: 0, k: 1 };
    this.fitted = true; // follow the layout until the person zooms or pans
    this.alpha = 0;
    this.frame = 0;
    this.hover = null;
    const defs = el("defs");
    // In user space, resized with the zoom (see `render`), so arrows keep their size.
    const marker = el("marker", {
      id: "arrow", viewBox: "0 0 10 10", refX: "10", refY: "5",
      markerUnits: "userSpaceOnUse", orient: "auto-start-reverse",
    });
    this.marker = marker;
    marker.append(el("path", { d: "M0,0 L10,5 L0,10 z", fill: "#8a939c" }));
    defs.append(marker);
    this.root = el("g");
    this.gEdges = el("g");
    this.gLabels = el("g");
    this.gNodes = el("g");
    this.root.append(this.gEdges, this.gLabels, this.gNodes);
    svg.replaceChildren(defs, this.root);
    this.listen();
  }

  /// Shows `graph` ({nodes, edges}); nodes already shown keep their place.
  setData(graph, seed) {
    const old = this.byId;
    this.byId = new Map();
    this.seed = seed;
    let fresh = 0;
    this.nodes = graph.nodes.map((n, i) => {
      const kept = old.get(n.id);
      const node = kept ? Object.assign(kept, n) : { ...n, vx: 0, vy: 0, x: NaN, y: NaN, degree: 0 };
      node.degree = 0;
      node.index = i;
      if (!kept) fresh++;
      this.byId.set(n.id, node);
      return node;
    });
    this.edges = graph.edges
      .filter((e) => this.byId.has(e.source) && this.byId.has(e.target))
      .map((e) => ({ ...e, s: this.byId.get(e.source), t: this.byId.get(e.target) }));
    for (const e of this.edges) { e.s.degree++; e.t.degree++; }
    // Pulled harder towards the centre vertically than across, the layout takes the
    // shape of the view.
    const box = this.svg.getBoundingClientRect();
    this.aspect = box.height ? Math.min(3, Math.max(1, box.width / box.height)) : 1;
    this.nodeSize = this.nodes.length <= ALWAYS_LABELLED ? 7 : 4;
    this.place();
    this.build();
    this.heat(fresh > 0 ? 1 : 0.3);
  }

  /// New nodes start beside a placed neighbour; the seed (or, for a part with no placed
  /// node, its first node) on a spiral around the centre.
  place() {
    const golden = Math.PI * (3 - Math.sqrt(5));
    let i = this.nodes.length - this.nodes.filter((n) => Number.isNaN(n.x)).length;
    const spiral = (n) => {
      const r = 30 * Math.sqrt(i);
      n.x = r * Math.cos(i * golden) * this.aspect;
      n.y = r * Math.sin(i * golden);
      i++;
    };
    const seed = this.byId.get(this.seed);
    if (seed && Number.isNaN(seed.x)) spiral(seed);
    for (;;) {
      for (let progress = true; progress;) {
        progress = false;
        for (const e of this.edges) {
          for (const [a, b] of [[e.s, e.t], [e.t, e.s]]) {
            if (Number.isNaN(a.x) && !Number.isNaN(b.x)) {
              const angle = Math.random() * 2 * Math.PI;
              a.x = b.x + 40 * Math.cos(angle);
              a.y = b.y + 40 * Math.sin(angle);
              progress = true;
            }
          }
        }
      }
      const next = this.nodes.find((n) => Number.isNaN(n.x));
      if (!next) break;
      spiral(next);
    }
  }

  radius(n) {
    return this.nodeSize + 1.6 * Math.sqrt(n.degree);
  }

  build() {
    const labelledNodes = new Set(
      [...this.nodes].sort((a, b) => b.degree - a.degree).slice(0, 20).map((n) => n.id),
    );
    this.gEdges.replaceChildren();
    this.gLabels.replaceChildren();
    this.gNodes.replaceChildren();
    for (const e of this.edges) {
      e.line = el("line", { class: "edge", "marker-end": "url(#arrow)" });
      e.line.setAttribute("stroke-width", String(0.8 + 1.6 * (e.strength ?? 0.5)));
      e.label = el("text", { class: "edge-label", "text-anchor": "middle", dy: "-2" });
      e.label.textContent = e.rel_type;
      this.gEdges.append(e.line);
      this.gLabels.append(e.label);
    }
    for (const n of this.nodes) {
      const g = el("g", { class: n.id === this.seed ? "node seed" : "node" });
      g.dataset.id = n.id;
      g.dataset.kind = n.kind;
      const title = el("title");
      title.textContent = `${n.title} (${n.kind})`;
      const circle = el("circle", { r: String(this.radius(n)), fill: kindColour(n.kind) });
      const text = el("text", { x: String(this.radius(n) + 3), dy: "3.5" });
      text.textContent = shorten(n.title, 32);
      g.append(title, circle, text);
      n.g = g;
      n.text = text;
      n.important = n.id === this.seed || labelledNodes.has(n.id);
      this.gNodes.append(g);
    }
    this.labels();
  }

  /// Which labels show: all of them for a small graph or once zoomed in; otherwise the seed,
  /// the best-connected nodes and the hovered node with its relationships.
  labels() {
    const zoomed = this.t.k >= ZOOMED_IN;
    const near = new Set();
    if (this.hover) {
      near.add(this.hover.id);
      for (const e of this.edges) {
        if (e.s === this.hover) near.add(e.t.id);
        if (e.t === this.hover) near.add(e.s.id);
      }
    }
    const allNodes = zoomed || this.nodes.length <= ALWAYS_LABELLED;
    const allEdges = zoomed || this.edges.length <= ALWAYS_LABELLED;
    for (const n of this.nodes) {
      n.text.style.display = allNodes || n.important || near.has(n.id) ? "" : "none";
      n.g.classList.toggle("dim", this.hover !== null && !near.has(n.id));
    }
    for (const e of this.edges) {
      const touches = this.hover !== null && (e.s === this.hover || e.t === this.hover);
      e.label.style.display = allEdges || touches ? "" : "none";
      e.line.classList.toggle("hot", touches);
      e.line.classList.toggle("dim", this.hover !== null && !touches);
      e.label.classList.toggle("dim", this.hover !== null && !touches);
    }
  }

  heat(alpha) {
    this.alpha = Math.max(this.alpha, alpha);
    this.svg.dataset.settled = "false";
    if (!this.frame) this.frame = requestAnimationFrame(() => this.step());
  }

  step() {
    this.frame = 0;
    const start = performance.now();
    do this.tick(); while (this.alpha > SETTLED && performance.now() - start < FRAME_BUDGET_MS);
    if (this.fitted) this.fit();
    this.render();
    if (this.alpha > SETTLED) this.frame = requestAnimationFrame(() => this.step());
    else this.svg.dataset.settled = "true";
  }

  tick() {
    const nodes = this.nodes;
    const a = this.alpha;
    for (let i = 0; i < nodes.length; i++) {
      const p = nodes[i];
      for (let j = i + 1; j < nodes.length; j++) {
        const q = nodes[j];
        let dx = q.x - p.x;
        let dy = q.y - p.y;
        let d2 = dx * dx + dy * dy;
        if (d2 < 1) { dx = Math.random() - 0.5; dy = Math.random() - 0.5; d2 = 1; }
        if (d2 > 250000) continue; // far apart: negligible
        const f = (REPULSION * a) / d2;
        p.vx -= dx * f; p.vy -= dy * f;
        q.vx += dx * f; q.vy += dy * f;
      }
    }
    for (const e of this.edges) {
      const dx = e.t.x - e.s.x;
      const dy = e.t.y - e.s.y;
      const d = Math.sqrt(dx * dx + dy * dy) || 1;
      const rest = 45 + 6 * Math.sqrt(Math.min(e.s.degree, e.t.degree));
      const f = ((d - rest) / d) * LINK_PULL * a / Math.sqrt(Math.min(e.s.degree, e.t.degree) || 1);
      e.s.vx += dx * f; e.s.vy += dy * f;
      e.t.vx -= dx * f; e.t.vy -= dy * f;
    }
    for (const n of nodes) {
      if (n.held) { n.vx = 0; n.vy = 0; continue; }
      n.vx = (n.vx - n.x * GRAVITY * a) * DECAY;
      n.vy = (n.vy - n.y * GRAVITY * this.aspect * a) * DECAY;
      n.x += n.vx;
      n.y += n.vy;
    }
    this.alpha -= this.alpha * COOLING;
  }

  /// Scales and moves the drawing so the whole graph fits the SVG.
  fit() {
    if (!this.nodes.length) return;
    const box = this.svg.getBoundingClientRect();
    let [x0, y0, x1, y1] = [Infinity, Infinity, -Infinity, -Infinity];
    for (const n of this.nodes) {
      x0 = Math.min(x0, n.x); y0 = Math.min(y0, n.y);
      x1 = Math.max(x1, n.x); y1 = Math.max(y1, n.y);
    }
    const pad = 60;
    const k = Math.min((box.width - pad) / (x1 - x0 + 1), (box.height - pad) / (y1 - y0 + 1), 3);
    this.t = { k, x: box.width / 2 - k * (x0 + x1) / 2, y: box.height / 2 - k * (y0 + y1) / 2 };
  }

  /// Positions everything. Nodes, labels and arrows are drawn at a constant size on screen
  /// (scaled by 1/zoom), so a large graph fitted to the view stays legible; only the
  /// distances follow the zoom.
  render() {
    const { k } = this.t;
    const unit = 1 / k;
    this.root.setAttribute("transform", `translate(${this.t.x},${this.t.y}) scale(${k})`);
    this.marker.setAttribute("markerWidth", 7 * unit);
    this.marker.setAttribute("markerHeight", 7 * unit);
    for (const e of this.edges) {
      const dx = e.t.x - e.s.x;
      const dy = e.t.y - e.s.y;
      const d = Math.sqrt(dx * dx + dy * dy) || 1;
      const r = (this.radius(e.t) + 1.5) * unit;
      e.line.setAttribute("x1", e.s.x);
      e.line.setAttribute("y1", e.s.y);
      e.line.setAttribute("x2", e.t.x - (dx / d) * r);
      e.line.setAttribute("y2", e.t.y - (dy / d) * r);
      e.label.setAttribute("transform", `translate(${(e.s.x + e.t.x) / 2},${(e.s.y + e.t.y) / 2}) scale(${unit})`);
    }
    for (const n of this.nodes) n.g.setAttribute("transform", `translate(${n.x},${n.y}) scale(${unit})`);
  }

  /// The world position under a pointer event.
  world(ev) {
    const box = this.svg.getBoundingClientRect();
    return { x: (ev.clientX - box.left - this.t.x) / this.t.k, y: (ev.clientY - box.top - this.t.y) / this.t.k };
  }

  listen() {
    const svg = this.svg;
    svg.addEventListener("wheel", (ev) => {
      ev.preventDefault();
      const box = svg.getBoundingClientRect();
      const px = ev.clientX - box.left;
      const py = ev.clientY - box.top;
      const k = Math.min(8, Math.max(0.1, this.t.k * Math.exp(-ev.deltaY * 0.0015)));
      this.t = { k, x: px - ((px - this.t.x) * k) / this.t.k, y: py - ((py - this.t.y) * k) / this.t.k };
      this.fitted = false;
      this.labels();
      this.render();
    }, { passive: false });
    svg.addEventListener("dblclick", (ev) => {
      if (ev.target.closest(".node")) return;
      this.fitted = true;
      this.fit();
      this.labels();
      this.render();
    });
    svg.addEventListener("pointerover", (ev) => {
      const g = ev.target.closest(".node");
      const node = g ? this.byId.get(g.dataset.id) : null;
      if (node !== this.hover) { this.hover = node; this.labels(); }
    });
    svg.addEventListener("pointerleave", () => { this.hover = null; this.labels(); });
    svg.addEventListener("pointerdown", (ev) => {
      const g = ev.target.closest(".node");
      const start = { x: ev.clientX, y: ev.clientY, tx: this.t.x, ty: this.t.y };
      const node = g ? this.byId.get(g.dataset.id) : null;
      let moved = false;
      svg.setPointerCapture(ev.pointerId);
      const move = (m) => {
        if (Math.abs(m.clientX - start.x) + Math.abs(m.clientY - start.y) > 4) moved = true;
        if (!moved) return;
        if (node) {
          const w = this.world(m);
          node.x = w.x; node.y = w.y; node.held = true;
          this.heat(0.15);
          this.render();
        } else {
          svg.classList.add("panning");
          this.fitted = false;
          this.t = { ...this.t, x: start.tx + m.clientX - start.x, y: start.ty + m.clientY - start.y };
          this.render();
        }
      };
      const up = () => {
        svg.removeEventListener("pointermove", move);
        svg.removeEventListener("pointerup", up);
        svg.classList.remove("panning");
        if (node) node.held = false;
        if (node && !moved) this.onOpen(node.id);
      };
      svg.addEventListener("pointermove", move);
      svg.addEventListener("pointerup", up);
    });
  }

  stop() {
    if (this.frame) cancelAnimationFrame(this.frame);
    this.frame = 0;
    this.alpha = 0;
  }
}
