// mnemograph viewer: a small single-page app over the server's JSON API (/api/…).
// Hand-written, no framework and no build step; every text from the store is inserted as
// text, never as HTML. Pages: search (#/), a memory (#/memory/ID), the graph (#/graph) and
// the status (#/status). Changes made elsewhere show within about a second: the page polls
// /api/changes and refreshes what it shows when the marker moves.

import { GraphView, kindColour } from "./graph.js";

const view = document.getElementById("view");
const message = document.getElementById("message");
const live = document.getElementById("live");
const POLL_MS = 1000;
const PAGE = 20;
const REL_TYPES = ["SOLVES", "CAUSES", "FIXES", "DEPENDS_ON", "PART_OF", "RELATED_TO",
  "SUPERSEDES", "CONTRADICTS", "EXAMPLE_OF", "USES"];

// h("div", {class: "x", onclick: f}, child, …): an element; strings become text nodes.
function h(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(e.dataset, v);
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : String(c));
  }
  return e;
}

class ApiError extends Error {
  constructor(status, body) {
    super(body.error || `the server answered ${status}`);
    this.status = status;
    this.body = body;
  }
}

async function api(path, { method = "GET", body } = {}) {
  const init = { method, headers: {} };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const res = await fetch("/api" + path, init);
  const text = await res.text();
  let data;
  try { data = text ? JSON.parse(text) : {}; } catch { data = { error: text }; }
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

// The message line; a message said just before a change of page (see `carry`) stays.
let carry = false;
function say(kind, text) {
  message.className = kind;
  message.textContent = text;
  message.hidden = false;
}
function unsay() {
  message.hidden = true;
  message.textContent = "";
}
const enc = encodeURIComponent;
const when = (t) => (t ? new Date(t).toLocaleString() : "—");
const day = (t) => new Date(t).toLocaleDateString();

function kindBadge(kind) {
  const b = h("span", { class: "kind" }, kind);
  b.style.background = kindColour(kind);
  return b;
}

// A snippet with the matched terms the store wrapped in [ ] highlighted.
function highlighted(snippet) {
  return snippet.split(/\[([^[\]]+)\]/).map((part, i) => (i % 2 ? h("mark", {}, part) : part));
}

// A button that asks for a second click before doing something that cannot be undone.
function confirmButton(label, action, attrs = {}) {
  let timer = 0;
  const b = h("button", { type: "button", class: "danger", ...attrs }, label);
  b.addEventListener("click", async () => {
    if (!b.classList.contains("armed")) {
      b.classList.add("armed");
      b.textContent = "Click again to confirm";
      timer = setTimeout(() => { b.classList.remove("armed"); b.textContent = label; }, 5000);
      return;
    }
    clearTimeout(timer);
    b.disabled = true;
    try { await action(); } catch (err) { say("error", err.message); b.disabled = false; }
  });
  return b;
}

// ---------------------------------------------------------------- search

function hitCard(hit) {
  return h("article", { class: "hit", dataset: { id: hit.id } },
    h("h3", {}, kindBadge(hit.kind), h("a", { href: `#/memory/${hit.id}` }, hit.title)),
    h("p", { class: "snippet" }, highlighted(hit.snippet)),
    h("div", { class: "meta" },
      hit.tags.map((t) => h("span", { class: "tag" }, t)),
      hit.project && h("span", {}, `project ${hit.project}`),
      h("span", {}, `created ${day(hit.created_at)}`)));
}

function searchPage(params) {
  const field = (name, label, attrs = {}) =>
    h("label", {}, label, h("input", { name, value: params.get(name) || "", ...attrs }));
  const kinds = h("select", { name: "kind" }, h("option", { value: "" }, "any kind"));
  const mode = h("select", { name: "mode" },
    ["", "hybrid", "keyword", "semantic"].map((m) =>
      h("option", { value: m, selected: (params.get("mode") || "") === m }, m || "best available")));
  const form = h("form", { class: "filters", id: "search-form" },
    field("q", "Search", { type: "search", placeholder: "words or a question", autofocus: true }),
    h("label", {}, "Kind", kinds),
    field("tag", "Tags (all of)", { placeholder: "rust, build" }),
    field("project", "Project"),
    field("since", "Created since", { type: "date" }),
    h("label", {}, "Mode", mode),
    h("button", { class: "primary", type: "submit" }, "Search"));
  const summary = h("p", { class: "summary", id: "search-summary" });
  const results = h("div", { id: "results" });
  const more = h("button", { type: "button", hidden: true }, "More");
  view.append(form, summary, results, more);

  api("/status").then((s) => {
    for (const [kind, n] of s.stats.by_kind) {
      kinds.append(h("option", { value: kind, selected: params.get("kind") === kind }, `${kind} (${n})`));
    }
  }).catch(() => {});

  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const q = new URLSearchParams();
    for (const [k, v] of new FormData(form)) if (String(v).trim()) q.set(k, String(v).trim());
    const hash = `#/?${q}`;
    if (location.hash === hash) refresh(); else location.hash = hash;
  });

  const query = () => {
    const q = new URLSearchParams();
    for (const k of ["q", "kind", "tag", "project", "since", "mode"]) if (params.get(k)) q.set(k, params.get(k));
    return q;
  };
  let cursor = null;
  async function load(append) {
    const q = query();
    q.set("limit", PAGE);
    if (append && cursor) q.set("cursor", cursor);
    const page = await api(`/search?${q}`);
    cursor = page.next_cursor;
    const cards = page.hits.map(hitCard);
    if (append) results.append(...cards); else results.replaceChildren(...cards);
    more.hidden = !cursor;
    const shown = results.children.length;
    summary.textContent = page.mode === "recent"
      ? `${shown} most recent memories${cursor ? " (more below)" : ""}`
      : `${shown} ${shown === 1 ? "memory" : "memories"} found by ${page.mode} search${cursor ? " (more below)" : ""}`;
    if (!shown) results.replaceChildren(h("p", { class: "empty" }, "Nothing found."));
  }
  more.addEventListener("click", () => load(true).catch((e) => say("error", e.message)));
  const refresh = () => load(false);
  return { refresh };
}

// ---------------------------------------------------------------- one memory

function memoryPage(id) {
  const root = h("div", { class: "memory" });
  view.append(root);
  let data = null;
  let editor = null; // the open edit form, which live refreshes leave alone

  async function refresh() {
    let fresh;
    try {
      fresh = await api(`/memories/${enc(id)}`);
    } catch (err) {
      if (err.status !== 404) throw err;
      data = null;
      root.replaceChildren(h("h1", {}, "Not found"), h("p", { id: "memory-missing" },
        "This memory does not exist (any more): it may have been deleted elsewhere. ",
        h("a", { href: "#/" }, "Back to search")));
      return;
    }
    if (editor) {
      // A save that already met the conflict says more than this notice: keep it.
      const conflictShown = !message.hidden && message.className === "conflict";
      if (fresh.memory.version !== data.memory.version && !conflictShown) {
        say("info", `This memory was changed elsewhere while you edit it (it is now version ${fresh.memory.version}); saving your edit will report a conflict.`);
      }
      return;
    }
    // A write elsewhere that changed nothing shown here leaves the page alone, so a button a
    // person has armed (a delete asking for its second click) stays armed.
    if (data && JSON.stringify(fresh) === JSON.stringify(data)) return;
    data = fresh;
    render();
  }

  function render() {
    const m = data.memory;
    const ctx = Object.entries(m.context || {});
    const outgoing = data.links.filter((l) => l.direction === "out");
    const incoming = data.links.filter((l) => l.direction === "in");
    root.replaceChildren(
      h("div", { class: "meta" }, kindBadge(m.kind), h("span", {}, `version ${m.version}`),
        h("span", {}, `created ${when(m.created_at)}`), h("span", {}, `updated ${when(m.updated_at)}`),
        h("span", {}, `importance ${m.importance}`), h("span", {}, `confidence ${m.confidence}`),
        h("span", { title: "id" }, m.id)),
      h("h1", { id: "memory-title" }, m.title),
      h("div", { class: "panel content", id: "memory-content" }, m.content),
      h("div", { class: "meta" }, m.tags.map((t) => h("a", { class: "tag", href: `#/?tag=${enc(t)}` }, t))),
      ctx.length ? h("dl", { class: "panel context" }, ctx.map(([k, v]) =>
        [h("dt", {}, k), h("dd", {}, typeof v === "string" ? v : JSON.stringify(v))])) : null,
      h("div", { class: "actions" },
        h("button", { type: "button", id: "edit", onclick: openEditor }, "Edit"),
        h("a", { href: `#/graph?id=${enc(m.id)}` }, h("button", { type: "button", tabindex: "-1" }, "Graph around it")),
        confirmButton("Delete memory", deleteMemory, { id: "delete-memory" })),
      h("div", { class: "grid2" },
        linkTable("Points to", "links-out", outgoing, "→"),
        linkTable("Pointed to by", "links-in", incoming, "←")),
      linkForm(m));
  }

  function linkTable(caption, tableId, links, arrow) {
    return h("section", { class: "panel" }, h("h3", {}, `${caption} (${links.length})`),
      links.length ? h("table", { id: tableId },
        h("tr", {}, h("th", {}, "type"), h("th", {}, "memory"), h("th", {}, "strength"), h("th", {})),
        links.map((l) => h("tr", { dataset: { rel: l.id } },
          h("td", { class: "rel-type" }, `${arrow} ${l.rel_type}`),
          h("td", {}, l.other ? [kindBadge(l.other.kind), h("a", { href: `#/memory/${l.other.id}` }, l.other.title)] : l.id),
          h("td", { class: "num", title: l.note || "" }, l.strength),
          h("td", {}, confirmButton("Delete", () => unlink(l), { class: "danger delete-link" })))))
        : h("p", { class: "empty" }, "None."));
  }

  function linkForm(m) {
    const type = h("select", { name: "rel_type" }, REL_TYPES.map((t) => h("option", {}, t)));
    const target = h("input", { name: "target", placeholder: "id of the memory it points to", size: 38, required: true });
    const form = h("form", { class: "link" }, h("strong", {}, "Add a relationship: this"), type, target,
      h("button", { type: "submit" }, "Link"));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      try {
        await api("/relationships", { method: "POST", body: { source_id: m.id, target_id: target.value.trim(), rel_type: type.value } });
        say("info", `Linked: ${type.value}.`);
        await refresh();
      } catch (err) { say("error", err.message); }
    });
    return h("section", { class: "panel" }, form);
  }

  async function unlink(l) {
    await api(`/relationships/${enc(l.id)}`, { method: "DELETE" });
    say("info", `Deleted the relationship ${l.rel_type} ${l.direction === "out" ? "to" : "from"} “${l.other ? l.other.title : l.id}”.`);
    await refresh();
  }

  async function deleteMemory() {
    const m = data.memory;
    const gone = await api(`/memories/${enc(m.id)}`, { method: "DELETE" });
    say("info", `Deleted “${m.title}” and its ${gone.relationships} relationship(s).`);
    carry = true;
    location.hash = "#/";
  }

  function openEditor() {
    unsay();
    const m = data.memory;
    const input = (name, value, attrs = {}) => h("input", { name, value, ...attrs });
    const context = JSON.stringify(m.context || {}, null, 2);
    const reload = h("button", { type: "button", hidden: true, id: "reload-current" }, "Load the current version");
    editor = h("form", { class: "panel edit", id: "editor" },
      h("label", {}, "Title"), input("title", m.title),
      h("label", {}, "Kind"), input("kind", m.kind),
      h("label", {}, "Tags"), input("tags", m.tags.join(", "), { placeholder: "comma-separated" }),
      h("label", {}, "Importance"), input("importance", m.importance, { type: "number", min: 0, max: 1, step: 0.05 }),
      h("label", {}, "Confidence"), input("confidence", m.confidence, { type: "number", min: 0, max: 1, step: 0.05 }),
      h("label", {}, "Context (JSON)"), h("textarea", { name: "context" }, context),
      h("label", {}, "Content"), h("textarea", { name: "content" }, m.content),
      h("div", { class: "buttons" },
        h("button", { type: "submit", class: "primary", id: "save" }, "Save"),
        h("button", { type: "button", onclick: closeEditor }, "Cancel"), reload));
    reload.addEventListener("click", () => { unsay(); closeEditor(); });
    editor.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const f = new FormData(editor);
      const patch = {};
      const text = (k) => String(f.get(k));
      if (text("title") !== m.title) patch.title = text("title");
      if (text("kind") !== m.kind) patch.kind = text("kind");
      if (text("content") !== m.content) patch.content = text("content");
      const tags = text("tags").split(",").map((t) => t.trim()).filter(Boolean);
      if (tags.join(",") !== m.tags.join(",")) patch.tags = tags;
      for (const k of ["importance", "confidence"]) if (Number(text(k)) !== m[k]) patch[k] = Number(text(k));
      if (text("context").trim() !== context) {
        try { patch.context = JSON.parse(text("context") || "{}"); } catch (err) {
          say("error", `The context is not valid JSON: ${err.message}`);
          return;
        }
      }
      if (!Object.keys(patch).length) { say("info", "Nothing changed."); return; }
      try {
        const saved = await api(`/memories/${enc(m.id)}`, { method: "PATCH", body: { expected_version: m.version, ...patch } });
        say("info", `Saved: “${saved.title}” is now at version ${saved.version}.`);
        closeEditor();
      } catch (err) {
        if (err.body && err.body.kind === "version_conflict") {
          say("conflict", `Not saved: this memory was changed elsewhere after you opened it (you edited version ${err.body.expected_version}; it is now version ${err.body.actual_version}). Your edit is still in the form: copy what you need, then load the current version and edit again.`);
          reload.hidden = false;
        } else {
          say("error", err.message);
        }
      }
    });
    root.replaceChildren(h("h1", {}, `Edit “${m.title}”`), editor);
  }

  function closeEditor() {
    editor = null;
    data = null; // the page shows the form: draw the memory again even if it did not change
    refresh().catch((e) => say("error", e.message));
  }

  return { refresh };
}

// ---------------------------------------------------------------- graph

function graphPage(params) {
  const id = params.get("id");
  const q = h("input", { name: "q", type: "search", value: params.get("q") || "", placeholder: "draw around a query" });
  const depth = h("select", { name: "depth" }, [1, 2, 3, 4, 5, 6].map((d) =>
    h("option", { value: d, selected: String(d) === (params.get("depth") || "2") }, `${d} hop${d > 1 ? "s" : ""}`)));
  const max = h("select", { name: "max_nodes" }, [50, 100, 200, 500, 1000].map((n) =>
    h("option", { value: n, selected: String(n) === (params.get("max_nodes") || "200") }, `up to ${n} memories`)));
  const form = h("form", { class: "filters", id: "graph-form" },
    h("label", {}, "Query", q), h("label", {}, "Depth", depth), h("label", {}, "Size", max),
    h("button", { type: "submit", class: "primary" }, "Draw"));
  const summary = h("p", { class: "summary", id: "graph-summary" });
  const legend = h("div", { class: "legend", id: "legend" });
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.id = "graph";
  const hint = h("p", { class: "hint" },
    "Click a memory to open it; drag to move; wheel to zoom; double-click the background to fit. Labels of the busiest memories show; hover or zoom in for the rest.");
  view.append(form, summary, legend, h("div", { class: "graph-wrap" }, svg), hint);
  const graph = new GraphView(svg, { onOpen: (node) => { location.hash = `#/memory/${node}`; } });

  const asked = () => {
    const p = new URLSearchParams();
    if (id && !q.value.trim()) p.set("id", id);
    else if (q.value.trim()) p.set("q", q.value.trim());
    p.set("depth", depth.value);
    p.set("max_nodes", max.value);
    return p;
  };
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const hash = `#/graph?${asked()}`;
    if (location.hash === hash) refresh(); else location.hash = hash;
  });
  depth.addEventListener("change", () => form.requestSubmit());
  max.addEventListener("change", () => form.requestSubmit());

  let shown = null; // what the drawing shows
  async function refresh() {
    const p = asked();
    if (!p.has("id") && !p.has("q")) {
      summary.textContent = "Type a query, or open a memory and choose “Graph around it”.";
      return;
    }
    const data = await api(`/graph?${p}`);
    // A write elsewhere that changed nothing drawn leaves the layout alone.
    const drawn = JSON.stringify([p.toString(), data.nodes.map((n) => [n.id, n.kind, n.title]), data.edges.map((e) => e.id)]);
    if (drawn === shown) return;
    shown = drawn;
    graph.setData(data, p.get("id"));
    const kinds = [...new Set(data.nodes.map((n) => n.kind))].sort();
    legend.replaceChildren(...kinds.map((k) => {
      const s = h("span", {}, k);
      s.style.setProperty("--c", kindColour(k));
      return s;
    }));
    summary.textContent = `${data.nodes.length} memories, ${data.edges.length} relationships` +
      (data.truncated ? " (stopped at the size limit: raise it, or lower the depth)" : "");
  }
  return { refresh, dispose: () => graph.stop() };
}

// ---------------------------------------------------------------- status

function statusPage() {
  const root = h("div", { id: "status" });
  view.append(root);
  const rows = (pairs) => h("table", {}, pairs.map(([k, v]) => h("tr", {}, h("th", {}, k), h("td", {}, v ?? "—"))));
  const counts = (title, pairs) => h("section", { class: "panel" }, h("h3", {}, title),
    pairs.length ? h("table", {}, pairs.map(([k, n]) => h("tr", {}, h("td", {}, k), h("td", { class: "num" }, n))))
      : h("p", { class: "empty" }, "None yet."));
  async function refresh() {
    const s = await api("/status");
    const st = s.stats;
    const sync = s.sync;
    root.replaceChildren(
      h("div", { class: "grid2" },
        h("section", { class: "panel", id: "status-store" }, h("h3", {}, "Store"), rows([
          ["memories", st.memories], ["relationships", st.relationships],
          ["with a vector", st.embedded], ["size", `${(st.size_bytes / 1048576).toFixed(1)} MiB`],
          ["location", s.location.path], ["namespace", s.location.namespace], ["mode", s.location.mode],
          ["primary", s.location.primary], ["store id", s.meta.store_id], ["schema", s.meta.schema_version]])),
        h("section", { class: "panel", id: "status-embedder" }, h("h3", {}, "Search and embedder"), rows([
          ["search", s.search_mode], ["embedder", s.embedder.state], ["provider", s.embedder.provider],
          ["model", s.embedder.model], ["dimension", s.embedder.dimension], ["detail", s.embedder.detail],
          ["store's vectors", s.meta.embedding_model]]))),
      h("div", { class: "grid2" }, counts("Memories by kind", st.by_kind), counts("Relationships by type", st.by_rel_type)),
      h("section", { class: "panel", id: "status-sync" }, h("h3", {}, "Sync"), rows([
        ["mode", sync.mode], ["online", sync.online ? "yes" : "no"], ["last sync", when(sync.last_success)],
        ["last error", sync.last_error], ["queued writes", sync.pending_writes], ["refused writes", sync.conflicts]]),
        s.refusals.length ? h("table", {}, h("tr", {}, h("th", {}, "refused write"), h("th", {}, "reason"), h("th", {}, "when")),
          s.refusals.map((r) => h("tr", {}, h("td", {}, r.write), h("td", {}, r.reason), h("td", {}, when(r.refused_at)))))
          : null));
  }
  return { refresh };
}

// ---------------------------------------------------------------- routing and live updates

let current = null;

async function show() {
  if (current && current.dispose) current.dispose();
  const hash = location.hash.slice(1) || "/";
  const [path, query] = hash.split("?");
  const params = new URLSearchParams(query || "");
  const parts = path.split("/").filter(Boolean);
  const page = parts[0] || "search";
  for (const a of document.querySelectorAll("[data-nav]")) a.classList.toggle("current", a.dataset.nav === page);
  view.replaceChildren();
  view.className = page === "graph" ? "wide" : "";
  if (page === "memory" && parts[1]) current = memoryPage(decodeURIComponent(parts[1]));
  else if (page === "graph") current = graphPage(params);
  else if (page === "status") current = statusPage();
  else current = searchPage(params);
  try { await current.refresh(); } catch (err) { say("error", err.message); }
}

let marker = null;
async function poll() {
  if (!document.hidden) {
    let now = null;
    try {
      now = JSON.stringify(await api("/changes"));
      live.className = "live on";
      live.textContent = "live";
    } catch (err) {
      live.className = "live off";
      live.textContent = err instanceof ApiError ? `not live: ${err.message}` : "server unreachable";
    }
    if (now !== null && marker !== null && now !== marker && current) {
      try { await current.refresh(); } catch (err) { say("error", err.message); }
    }
    if (now !== null) marker = now;
  }
  setTimeout(poll, POLL_MS);
}

window.addEventListener("hashchange", () => {
  if (!carry) unsay();
  carry = false;
  show();
});
show();
poll();
