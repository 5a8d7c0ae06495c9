// Palisade's page: it draws what the JSON API answers and computes nothing of its own
// (no second evaluator: every verdict comes from the server's engine).
"use strict";

const $ = (id) => document.getElementById(id);
const el = (tag, attrs = {}, ...children) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v; else if (k.startsWith("on")) e.addEventListener(k.slice(2), v); else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
};
const SVG = "http://www.w3.org/2000/svg";
const svg = (tag, attrs = {}) => {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
};
const api = async (path) => {
  const r = await fetch(path);
  const body = await r.json();
  if (!r.ok) throw new Error(body.error || r.statusText);
  return body;
};

// Tabs, with arrow keys as the WAI-ARIA tabs pattern.
const tabs = ["map", "coverage", "matrix", "explain", "policies", "change", "live"];
function show(name) {
  for (const t of tabs) {
    const on = t === name;
    $("tab-" + t).setAttribute("aria-selected", on);
    $("tab-" + t).tabIndex = on ? 0 : -1;
    $(t).hidden = !on;
  }
}
for (const t of tabs) {
  $("tab-" + t).addEventListener("click", () => show(t));
  $("tab-" + t).addEventListener("keydown", (ev) => {
    const i = tabs.indexOf(t);
    const next = ev.key === "ArrowRight" ? tabs[(i + 1) % tabs.length] : ev.key === "ArrowLeft" ? tabs[(i + tabs.length - 1) % tabs.length] : null;
    if (next) { show(next); $("tab-" + next).focus(); }
  });
}

// Map: namespaces as boxes in a grid, units inside, edges as arrows.
// Which namespaces are drawn workload by workload: null until the user chooses (the
// server then expands all of a small cluster and none of a large one).
let expanded = null;
function toggleNamespace(ns, units) {
  const now = new Set(units.filter((u) => !u.collapsed && u.namespace).map((u) => u.namespace));
  if (now.has(ns)) now.delete(ns); else now.add(ns);
  expanded = now;
  drawMap();
}
async function drawMap() {
  const q = new URLSearchParams();
  if ($("map-namespace").value) q.set("namespace", $("map-namespace").value);
  if ($("map-cross").checked) q.set("cross_namespace", "true");
  if (expanded) q.set("expand", [...expanded].join(","));
  for (const [k, id] of [["pairs", "map-pairs"], ["port", "map-port"], ["protocol", "map-protocol"], ["labels", "map-labels"]]) {
    const v = $(id).value.trim();
    if (v && !(k === "pairs" && v === "allowed")) q.set(k, v);
  }
  let m;
  try {
    m = await api("/api/map?" + q);
    $("map-error").hidden = true;
  } catch (err) {
    $("map-error").textContent = err.message;
    $("map-error").hidden = false;
    return;
  }
  const byNs = new Map();
  for (const u of m.units) {
    const ns = u.namespace ?? "(outside the cluster)";
    if (!byNs.has(ns)) byNs.set(ns, []);
    byNs.get(ns).push(u);
  }
  const cols = Math.max(1, Math.ceil(Math.sqrt(byNs.size)));
  const boxW = 260, unitH = 26, pad = 30;
  const pos = new Map();
  let x = 0, y = 0, rowH = 0, i = 0, width = 0;
  const g = svg("g");
  for (const [ns, units] of byNs) {
    const h = 34 + units.length * unitH;
    const bx = pad + x, by = pad + y;
    g.append(svg("rect", { class: "ns-box", x: bx, y: by, width: boxW, height: h, rx: 6 }));
    const label = svg("text", { class: "ns-label", x: bx + 8, y: by + 18, tabindex: 0, role: "button" });
    const collapsed = units.length === 1 && units[0].collapsed;
    label.dataset.namespace = ns;
    label.textContent = ns === "(outside the cluster)" ? ns : `${collapsed ? "▸" : "▾"} ${ns}`;
    if (ns !== "(outside the cluster)") {
      const toggle = () => toggleNamespace(ns, m.units);
      label.addEventListener("click", toggle);
      label.addEventListener("keydown", (ev) => { if (ev.key === "Enter") toggle(); });
      label.append(svg("title"));
      label.lastChild.textContent = collapsed ? `expand ${ns} into its workloads` : `collapse ${ns} into one node`;
    }
    g.append(label);
    units.forEach((u, k) => {
      const ux = bx + 10, uy = by + 28 + k * unitH;
      const box = svg("rect", { class: u.collapsed ? "unit collapsed" : "unit", x: ux, y: uy, width: boxW - 20, height: unitH - 4, rx: 3 });
      box.dataset.pods = u.pods.join(" ");
      box.dataset.name = u.name;
      g.append(box);
      const t = svg("text", { x: ux + 6, y: uy + 15 });
      t.textContent = u.collapsed ? `${u.pod_count} pods (select the name to expand)` : u.name.replace(ns + "/", "");
      g.append(t);
      pos.set(u.id, { x: ux, y: uy + (unitH - 4) / 2, w: boxW - 20 });
    });
    rowH = Math.max(rowH, h);
    x += boxW + pad * 7;
    width = Math.max(width, x);
    if (++i % cols === 0) { x = 0; y += rowH + pad; rowH = 0; }
  }
  const height = y + rowH + pad * 2;
  const s = svg("svg", { width: width + pad, height, viewBox: `0 0 ${width + pad} ${height}`, role: "img", "aria-label": `${m.units.length} workloads, ${m.edges.length} allowed connections` });
  const defs = svg("defs");
  // Arrow heads of a fixed size, whatever the line's width (a lit edge is thicker).
  for (const [id, fill] of [["arrow", "#0b5394"], ["arrow-denied", "#b45f06"]]) {
    const marker = svg("marker", { id, viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 8, markerHeight: 8, markerUnits: "userSpaceOnUse", orient: "auto-start-reverse" });
    marker.append(svg("path", { d: "M 0 0 L 10 5 L 0 10 z", fill }));
    defs.append(marker);
  }
  s.append(defs, g);
  const tbody = $("map-edges").querySelector("tbody");
  tbody.replaceChildren();
  const labels = [];
  // What the live view lights: each drawn arrow by its ends, and each endpoint's node.
  drawn = { edges: new Map(), pos, svg: s, node: new Map(), nsNode: new Map(), names: m.units.map((u) => u.name) };
  for (const u of m.units) {
    if (u.collapsed) drawn.nsNode.set(u.namespace, u.id);
    for (const p of u.pods) drawn.node.set(p, u.id);
  }
  const onlyChanged = $("map-changed").checked;
  const arcs = new Map();
  const name = (id) => m.units[id].name;
  for (const e of m.edges) {
    const changed = e.opened;
    if (onlyChanged && !changed) continue;
    const a = pos.get(e.from), b = pos.get(e.to);
    if (a && b && e.from !== e.to) {
      let d, lx, ly;
      if (a.x === b.x) {
        // Same column: an arc out to the right of the boxes, wider for longer spans.
        // Each arc of a column a little wider than the last, so their labels do not overlap.
        const k = arcs.get(a.x) ?? 0;
        arcs.set(a.x, k + 1);
        const x = a.x + a.w, bulge = 30 + Math.abs(b.y - a.y) * 0.2 + 26 * k;
        d = `M ${x} ${a.y} C ${x + bulge} ${a.y}, ${x + bulge} ${b.y}, ${x} ${b.y}`;
        lx = x + bulge * 0.75 + 2; ly = (a.y + b.y) / 2 + 3;
      } else {
        const fromRight = a.x < b.x;
        const x1 = fromRight ? a.x + a.w : a.x, x2 = fromRight ? b.x : b.x + b.w;
        const mid = (x1 + x2) / 2;
        d = `M ${x1} ${a.y} C ${mid} ${a.y}, ${mid} ${b.y}, ${x2} ${b.y}`;
        lx = mid; ly = (a.y + b.y) / 2;
      }
      const kind = e.kind === "allowed" ? (changed ? "edge opened" : "edge") : `edge pair-${e.kind}`;
      const path = svg("path", { class: kind, d, "marker-end": "url(#arrow)", tabindex: 0, "data-from": name(e.from), "data-to": name(e.to) });
      const label = svg("text", { class: "edge-label", x: lx, y: ly });
      label.textContent = e.kind === "denied" ? "✗" : e.kind === "half-open" ? `◐ ${e.open_side} only` : shortPorts(e);
      labels.push(label);
      const title = svg("title");
      title.textContent = e.kind === "denied" ? `${name(e.from)} → ${name(e.to)}: denied` : e.kind === "half-open"
        ? `${name(e.from)} → ${name(e.to)}: half-open, only ${e.open_side} allows`
        : `${name(e.from)} → ${name(e.to)}: TCP ${e.tcp}, UDP ${e.udp}, SCTP ${e.sctp}`;
      path.append(title);
      path.addEventListener("click", () => explainEdge(e));
      path.addEventListener("keydown", (ev) => { if (ev.key === "Enter") explainEdge(e); });
      s.append(path);
      drawn.edges.set(`${e.from} ${e.to}`, path);
    }
    const row = el("tr", { tabindex: 0, onclick: () => explainEdge(e), onkeydown: (ev) => { if (ev.key === "Enter") explainEdge(e); } },
      el("td", {}, name(e.from)), el("td", {}, name(e.to)), el("td", {}, e.tcp), el("td", {}, e.udp), el("td", {}, e.sctp));
    row.dataset.from = name(e.from);
    row.dataset.to = name(e.to);
    if (changed) { row.classList.add("opened"); row.cells[0].prepend(el("span", { class: "badge" }, "opened ")); }
    if (e.kind !== "allowed") { row.classList.add(`pair-${e.kind}`); row.cells[0].prepend(el("span", { class: "badge" }, e.kind === "denied" ? "✗ denied " : `◐ half-open (${e.open_side} allows) `)); }
    tbody.append(row);
  }
  placeLabels(labels);
  s.append(...labels);
  drawn.overlay = svg("g", { class: "flow-overlay" });
  s.append(drawn.overlay);
  $("map-graph").replaceChildren(s);
  highlight(highlighted);
  lightMap();
  if (m.truncated) $("map-graph").append(el("p", { class: "denied" }, "Too many connections to draw: only the first 20,000 are shown; narrow with a namespace."));
}

// Live: the flows the server keeps (from its flow log or its agent), followed by long
// polling; the filters are the server's (those of `palisade flows`).
let drawn = null;
let flowsSeen = [];
let flowsAbort = null;
const FLOWS_KEPT = 2000;
const flowText = (f) => f.record.protocol ? `${f.record.port ?? ""}/${f.record.protocol}` : "other";
function flowQuery(after, wait) {
  const q = new URLSearchParams({ after, wait, limit: 1000 });
  for (const [k, id] of [["namespace", "live-namespace"], ["pod", "live-pod"], ["verdict", "live-verdict"], ["policy", "live-policy"]]) {
    if ($(id).value) q.set(k, $(id).value.trim());
  }
  return q;
}
function flowRow(f) {
  const r = f.record;
  const time = new Date(r.time * 1000).toISOString().slice(11, 23);
  const shadow = r.verdict.startsWith("shadow-");
  const decided = f.policy ? `${f.policy}${f.tier && f.tier !== "NetworkPolicy" ? ` (${f.tier})` : ""}${shadow ? " (staged)" : ""}` : (r.verdict === "allowed" ? "not isolated" : "—");
  const mark = r.verdict === "allowed" ? "allowed" : r.verdict === "audit" ? "audit" : shadow ? "shadow" : "denied";
  const row = el("tr", { tabindex: 0, class: `flow-${r.verdict}` },
    el("td", {}, time), el("td", {}, el("span", { class: mark }, r.verdict)),
    el("td", {}, r.src), el("td", {}, r.dst), el("td", {}, flowText(f)), el("td", {}, decided));
  row.dataset.seq = f.seq;
  if (r.protocol && r.port) {
    const go = () => {
      $("explain-from").value = r.src; $("explain-to").value = r.dst; $("explain-port").value = `${r.port}/${r.protocol}`;
      show("explain"); runExplain();
    };
    row.addEventListener("click", go);
    row.addEventListener("keydown", (ev) => { if (ev.key === "Enter") go(); });
    row.title = "explain this flow";
  }
  return row;
}
function addFlows(list) {
  if (!list.length) return;
  flowsSeen.push(...list);
  if (flowsSeen.length > FLOWS_KEPT) flowsSeen.splice(0, flowsSeen.length - FLOWS_KEPT);
  const tbody = $("live-table").querySelector("tbody");
  tbody.prepend(...list.slice().reverse().map(flowRow));
  while (tbody.rows.length > FLOWS_KEPT) tbody.lastChild.remove();
  lightMap();
}
let flowsFilter = null;
async function followFlows() {
  // The same filters again (a field losing focus after Enter): nothing to do.
  const filter = flowQuery(0, 0).toString();
  if (filter === flowsFilter) return;
  flowsFilter = filter;
  if (flowsAbort) flowsAbort.abort();
  const abort = new AbortController();
  flowsAbort = abort;
  flowsSeen = [];
  $("live-table").querySelector("tbody").replaceChildren();
  lightMap();
  let after = 0, first = true;
  while (!abort.signal.aborted) {
    try {
      // The first answer at once (what is kept); then each waits for the next flows.
      const r = await fetch("/api/flows?" + flowQuery(after, first ? 0 : 25), { signal: abort.signal });
      first = false;
      const body = await r.json();
      // Filters changed meanwhile: this answer is for the old ones.
      if (abort.signal.aborted) return;
      if (r.status === 404) { $("live-source").textContent = body.error; return; }
      if (!r.ok) throw new Error(body.error || r.statusText);
      $("live-source").textContent = `Flows from ${body.source}` + (body.unreadable ? ` (${body.unreadable} unreadable line(s) skipped)` : "");
      after = body.last;
      addFlows(body.flows);
      document.body.dataset.flows = String(after);
    } catch (err) {
      if (abort.signal.aborted) return;
      await new Promise((ok) => setTimeout(ok, 2000));
    }
  }
}
// The map's arrows for the log's last minute: allowed ones lit, audit ones marked, denied
// ones drawn dashed between their two nodes (the map has no arrow for them).
function lightMap() {
  if (!drawn) return;
  for (const p of drawn.edges.values()) { p.classList.remove("lit", "lit-audit"); delete p.dataset.flows; }
  drawn.overlay.replaceChildren();
  if (!flowsSeen.length) return;
  const newest = Math.max(...flowsSeen.map((f) => f.record.time));
  const nodeOf = (name) => name == null ? undefined : drawn.node.get(name) ?? drawn.nsNode.get(name.split("/")[0]);
  const denied = new Map();
  for (const f of flowsSeen) {
    // A shadow record restates a connection under staged policies: not drawn.
    if (f.record.time < newest - 60 || f.record.verdict.startsWith("shadow-")) continue;
    const a = nodeOf(f.src), b = nodeOf(f.dst);
    if (a === undefined || b === undefined || a === b) continue;
    const path = drawn.edges.get(`${a} ${b}`);
    if (f.record.verdict !== "denied" && path) {
      path.classList.add(f.record.verdict === "audit" ? "lit-audit" : "lit");
      path.dataset.flows = String(Number(path.dataset.flows ?? 0) + 1);
    } else if (f.record.verdict !== "allowed") {
      denied.set(`${a} ${b}`, [a, b]);
    }
  }
  for (const [key, [a, b]] of denied) {
    const p = drawn.pos.get(a), q = drawn.pos.get(b);
    if (!p || !q) continue;
    // Allowed arrows of a column bulge to the right: a denied one bulges to the left.
    let d, lx, ly;
    if (p.x === q.x) {
      const bulge = 28;
      d = `M ${p.x} ${p.y} C ${p.x - bulge} ${p.y}, ${p.x - bulge} ${q.y}, ${q.x} ${q.y}`;
      lx = p.x - bulge; ly = (p.y + q.y) / 2 + 4;
    } else {
      const x1 = p.x + p.w / 2, x2 = q.x + q.w / 2, my = Math.min(p.y, q.y) - 40;
      d = `M ${x1} ${p.y} Q ${(x1 + x2) / 2} ${my}, ${x2} ${q.y}`;
      lx = (x1 + x2) / 2; ly = (p.y + q.y) / 2 - 20;
    }
    const path = svg("path", { class: "flow-denied-edge", d, "marker-end": "url(#arrow-denied)" });
    path.dataset.from = unitName(a);
    path.dataset.to = unitName(b);
    const t = svg("title");
    t.textContent = "denied flow seen";
    path.append(t);
    const label = svg("text", { class: "flow-denied-label", x: lx, y: ly, "text-anchor": "middle" });
    label.textContent = "✗";
    drawn.overlay.append(path, label);
  }
}

const unitName = (id) => drawn.names[id];

// Edge labels sit at their curve's middle; where two would overlap, the later one moves
// down a line until it is clear (boxes estimated from the text's length; a grid of
// cells keeps this linear in the number of labels).
function placeLabels(labels) {
  const W = 5.6, H = 12, CELL = 64;
  const grid = new Map();
  const cells = (b) => {
    const out = [];
    for (let gx = Math.floor(b.x / CELL); gx <= Math.floor((b.x + b.w) / CELL); gx++) {
      for (let gy = Math.floor(b.y / CELL); gy <= Math.floor((b.y + b.h) / CELL); gy++) out.push(`${gx},${gy}`);
    }
    return out;
  };
  const hits = (b) => cells(b).some((c) => (grid.get(c) ?? []).some((o) => b.x < o.x + o.w && o.x < b.x + b.w && b.y < o.y + o.h && o.y < b.y + b.h));
  for (const label of labels) {
    const x = Number(label.getAttribute("x")), w = label.textContent.length * W;
    let y = Number(label.getAttribute("y"));
    for (let tries = 0; tries < 12 && hits({ x, y: y - H + 2, w, h: H }); tries++) y += H;
    label.setAttribute("y", y);
    const box = { x, y: y - H + 2, w, h: H };
    for (const c of cells(box)) { if (!grid.has(c)) grid.set(c, []); grid.get(c).push(box); }
  }
}

// An edge's label: its ports per protocol, shortened.
function shortPorts(e) {
  const parts = [["TCP", e.tcp], ["UDP", e.udp], ["SCTP", e.sctp]].filter(([, p]) => p !== "-");
  if (parts.length === 3 && parts.every(([, p]) => p === "all")) return "all";
  const text = parts.map(([proto, p]) => `${proto} ${p}`).join(" ");
  return text.length > 24 ? text.slice(0, 23) + "…" : text;
}

// The first open port of an edge, for explaining it.
function firstPort(e) {
  for (const [proto, ports] of [["TCP", e.tcp], ["UDP", e.udp], ["SCTP", e.sctp]]) {
    if (ports === "-") continue;
    const first = ports === "all" ? "1" : ports.split(",")[0].split("-")[0];
    return `${first}/${proto}`;
  }
  return "1/TCP";
}

function explainEdge(e) {
  $("explain-from").value = e.example[0];
  $("explain-to").value = e.example[1];
  // A denied pair on a chosen port is explained on that port; else on its first port.
  $("explain-port").value = e.kind !== "allowed" && $("map-port").value ? $("map-port").value.trim() : firstPort(e);
  show("explain");
  runExplain();
}

// Matrix: namespace × namespace, the share as text and as shade.
async function drawMatrix() {
  const m = await api("/api/matrix");
  const t = $("matrix-table");
  t.replaceChildren();
  t.append(el("tr", {}, el("th", {}, "from \\ to"), ...m.namespaces.map((n) => el("th", { scope: "col" }, n))));
  m.namespaces.forEach((from, i) => {
    const cells = m.namespaces.map((to, j) => {
      const pairs = m.pairs[i][j], allowed = m.allowed[i][j];
      const share = pairs ? allowed / pairs : 0;
      const td = el("td", { title: `${allowed} of ${pairs} pod pairs allowed` }, pairs ? `${Math.round(share * 100)}%` : "–");
      td.style.background = pairs ? shade(share) : "";
      td.dataset.allowed = allowed;
      td.dataset.pairs = pairs;
      if (pairs) {
        td.tabIndex = 0;
        td.classList.add("drill");
        td.addEventListener("click", () => drillWorkloads(from, to));
        td.addEventListener("keydown", (ev) => { if (ev.key === "Enter") drillWorkloads(from, to); });
      }
      return td;
    });
    t.append(el("tr", {}, el("th", { scope: "row" }, from), ...cells));
  });
}

// Matrix drill-down: one namespace pair's workloads; a workload cell's pods (alike, so
// the cell's verdict holds for each of their pairs).
const shade = (share) => `rgba(11, 83, 148, ${0.08 + share * 0.5})`;
async function drillWorkloads(from, to) {
  const w = await api("/api/matrix/workloads?" + new URLSearchParams({ from, to }));
  const t = el("table", { id: "workloads-table", "aria-label": `Workloads from ${from} to ${to}` });
  t.append(el("tr", {}, el("th", {}, "from \\ to"), ...w.cols.map((c) => el("th", { scope: "col" }, c.name))));
  w.rows.forEach((row, i) => {
    const cells = w.cols.map((col, j) => {
      const c = w.cells[i][j];
      const text = !c.pairs ? "–" : c.allowed ? [["TCP", c.tcp], ["UDP", c.udp], ["SCTP", c.sctp]].filter(([, p]) => p !== "-").map(([k, p]) => `${k} ${p}`).join(" ") : "denied";
      const td = el("td", { title: `${c.allowed} of ${c.pairs} pod pairs allowed` }, text);
      td.classList.add(c.allowed ? "allowed" : c.pairs ? "denied" : "none");
      td.style.background = c.pairs ? shade(c.allowed ? 0.4 : 0) : "";
      td.dataset.from = row.name;
      td.dataset.to = col.name;
      if (c.example) {
        td.tabIndex = 0;
        td.classList.add("drill");
        const go = () => drillPods(row, col, c);
        td.addEventListener("click", go);
        td.addEventListener("keydown", (ev) => { if (ev.key === "Enter") go(); });
      }
      return td;
    });
    t.append(el("tr", {}, el("th", { scope: "row" }, row.name), ...cells));
  });
  $("matrix-drill").replaceChildren(el("h2", {}, `Workloads: ${from} → ${to}`), t);
  $("matrix-pods").replaceChildren();
}
function drillPods(row, col, c) {
  const list = (pods) => el("ul", {}, ...pods.slice(0, 50).map((p) => el("li", {}, p)), ...(pods.length > 50 ? [el("li", {}, `… and ${pods.length - 50} more`)] : []));
  const explainIt = el("button", { type: "button", onclick: () => {
    $("explain-from").value = c.example[0]; $("explain-to").value = c.example[1];
    $("explain-port").value = firstPort(c); show("explain"); runExplain();
  } }, `Explain ${c.example[0]} → ${c.example[1]}`);
  $("matrix-pods").replaceChildren(
    el("h2", {}, `Pods: ${row.name} → ${col.name}`),
    el("p", { id: "matrix-pods-verdict" }, `${c.pairs} pod pair(s), judged alike (one equivalence class each side): `,
      c.allowed ? el("span", { class: "allowed" }, `allowed on TCP ${c.tcp}, UDP ${c.udp}, SCTP ${c.sctp}`) : el("span", { class: "denied" }, "denied on every port")),
    el("div", { class: "pod-lists" }, el("div", {}, el("h3", {}, "From"), list(row.pods)), el("div", {}, el("h3", {}, "To"), list(col.pods))),
    explainIt);
}

// Change: what the input opens and closes against --old/--git, as palisade diff says.
function changeRows(list, tbody) {
  tbody.replaceChildren(...(list.length ? list.map((c) => el("tr", {},
    el("td", {}, c.from), el("td", {}, c.to), el("td", {}, c.protocols.join("+")), el("td", {}, c.ports),
    el("td", {}, String(c.pairs)), el("td", {}, c.policies.length ? c.policies.join(", ") : "none (not isolated)"))) : [el("tr", {}, el("td", { colspan: 6 }, "nothing"))]));
}
async function loadChange() {
  const r = await fetch("/api/change");
  const body = await r.json();
  if (!r.ok) { $("change-against").textContent = body.error; $("map-changed").disabled = true; return; }
  $("change-against").textContent = `The input against ${body.against}: ${body.diff.opened.length} group(s) opened, ${body.diff.closed.length} closed.`;
  changeRows(body.diff.opened, $("change-opened").querySelector("tbody"));
  changeRows(body.diff.closed, $("change-closed").querySelector("tbody"));
}

// Policies: the text as written, the pods it selects, and those pods on the map.
let policyList = [];
let highlighted = new Set();
function highlight(pods) {
  highlighted = pods;
  for (const r of document.querySelectorAll("#map-graph rect.unit")) {
    const on = r.dataset.pods.split(" ").some((p) => pods.has(p));
    r.classList.toggle("highlight", on);
  }
}
// The policy shown: its detail from /api/policy.
let policyShown = null;
async function showPolicy() {
  const s = policyList[$("policy-select").selectedIndex];
  if (!s) return;
  const q = new URLSearchParams({ kind: s.kind, name: s.name });
  if (s.namespace) q.set("namespace", s.namespace);
  const p = await api("/api/policy?" + q);
  policyShown = p;
  const id = p.namespace ? `${p.namespace}/${p.name}` : p.name;
  $("policy-title").textContent = `${p.kind}${p.tier ? ` (${p.tier})` : ""} ${id}${p.staged ? " — staged (palisade.dev/mode: shadow): not enforced; what it would do if promoted" : ""}`;
  $("policy-source").textContent = p.source ? `read from ${p.source}` : "read from the Kubernetes API";
  $("policy-pods").replaceChildren(...(p.pods.length ? p.pods.map((x) => el("li", {}, x)) : [el("li", {}, "none: it selects no pod")]));
  $("policy-yaml").textContent = p.yaml ?? "(not kept for objects read from the API)";
  $("policy-allows").replaceChildren(...policyAllows(p));
}
// A NetworkPolicy's rules in words, with the pods each peer selects now.
function policyAllows(p) {
  if (!p.allows) return [el("li", {}, "Its rules allow, deny or pass by tier: explain a pair to see them decide.")];
  const lines = [];
  for (const d of ["ingress", "egress"]) {
    if (!p.isolates.includes(d)) continue;
    const rules = p.allows.filter((r) => r.direction === d);
    if (!rules.length) { lines.push(el("li", { class: "denied" }, `${d}: nothing (it isolates its pods for ${d} and allows no ${d})`)); continue; }
    for (const r of rules) {
      const peer = (x) => x.kind === "ipBlock" ? x.text : x.pod_count === 0 ? `${x.text} (no pod now)`
        : `${x.text} (${x.pod_count} pod(s) now: ${x.pods.join(", ")}${x.pod_count > x.pods.length ? ", …" : ""})`;
      const peers = r.peers.length ? r.peers.map(peer).join("; or ") : "every peer";
      const ports = r.ports.length ? r.ports.join(", ") : "every port";
      lines.push(el("li", { "data-direction": d, "data-rule": r.rule }, `${d} rule ${r.rule}: ${d === "ingress" ? "from" : "to"} ${peers}, on ${ports}`));
    }
  }
  return lines;
}
// Opens the policy view on `key` (`ns/name`, or a cluster policy's name).
function openPolicy(key) {
  const i = policyList.findIndex((p) => (p.namespace ? `${p.namespace}/${p.name}` : p.name) === key);
  if (i < 0) return;
  $("policy-select").selectedIndex = i;
  show("policies");
  showPolicy();
}
const policyLink = (key) => el("a", { href: "#", class: "policy-link", onclick: (ev) => { ev.preventDefault(); openPolicy(key); } }, key);
async function loadPolicies() {
  policyList = await api("/api/policies");
  for (const p of policyList) {
    const id = p.namespace ? `${p.namespace}/${p.name}` : p.name;
    $("policy-select").append(el("option", {}, `${p.kind} ${id}${p.staged ? " (staged)" : ""}`));
  }
  showPolicy();
}

// Coverage: lint's picture per namespace; every mark is a word too.
function mark(value, yes, no) {
  if (value === null) return el("span", { title: "lint does not check this namespace" }, "not checked");
  return el("span", { class: value ? "allowed" : "denied" }, value ? yes : no);
}
async function drawCoverage() {
  const c = await api("/api/coverage");
  const tbody = $("coverage-table").querySelector("tbody");
  tbody.replaceChildren();
  for (const n of c.namespaces) {
    const list = el("ul", {}, ...n.findings.map((f) => {
      const li = el("li", { "data-rule": f.rule }, `${f.rule} ${f.name} (${f.severity}): ${f.message}`, ...(f.fix ? [el("pre", {}, f.fix)] : []));
      return li;
    }));
    const details = el("details", {}, el("summary", {}, `${n.findings.length} finding(s)`), list);
    // A negative mark opens the findings and points at the rule's.
    const toFindings = (rules) => () => {
      details.open = true;
      for (const li of list.children) li.classList.toggle("focus", rules.includes(li.dataset.rule));
      list.querySelector("li.focus")?.scrollIntoView({ block: "nearest" });
    };
    const linked = (value, yes, no, rules) => {
      const m = mark(value, yes, no);
      if (value === false && n.findings.some((f) => rules.includes(f.rule))) {
        return el("button", { type: "button", class: "to-findings", onclick: toFindings(rules), title: "show the finding" }, m);
      }
      return m;
    };
    // Workload rows are made on the first expand (a large cluster has thousands).
    let workloads = null;
    const toggle = el("button", { type: "button", class: "ns-toggle", "aria-expanded": "false", onclick: () => {
      const open = toggle.getAttribute("aria-expanded") !== "true";
      toggle.setAttribute("aria-expanded", open);
      toggle.textContent = `${open ? "▾" : "▸"} ${n.namespace}`;
      if (!workloads) { workloads = n.workloads.map((w) => workloadRow(n, w)); row.after(...workloads); }
      for (const w of workloads) w.hidden = !open;
    } }, `▸ ${n.namespace}`);
    const row = el("tr", {},
      el("th", { scope: "row" }, toggle), el("td", {}, String(n.pods)),
      el("td", {}, `${n.isolated_ingress} of ${n.pods}`), el("td", {}, `${n.isolated_egress} of ${n.pods}`),
      el("td", {}, linked(n.default_deny_ingress, "present", "missing", ["PAL001"])),
      el("td", {}, linked(n.default_deny_egress, "present", "missing", ["PAL002"])),
      el("td", {}, linked(n.dns, "reachable", "blocked", ["PAL003", "PAL004"])),
      el("td", {}, n.monitoring === null ? el("span", { title: "no pod declares a metrics port" }, "no metrics port") : mark(n.monitoring, "reaches metrics", "blind")),
      el("td", {}, n.findings.length === 0 ? "none" : details));
    row.dataset.namespace = n.namespace;
    tbody.append(row);
  }
}
function workloadRow(n, w) {
  const yesNo = (v) => el("span", { class: v ? "allowed" : "denied" }, v ? "yes" : "no");
  const wr = el("tr", { class: "workload" },
    el("th", { scope: "row" }, w.name), el("td", {}, String(w.pods)),
    el("td", {}, yesNo(w.isolated_ingress)), el("td", {}, yesNo(w.isolated_egress)), el("td", {}), el("td", {}),
    el("td", {}, w.dns === null ? el("span", { title: "the input has no cluster DNS pod" }, "unknown") : mark(w.dns, "reachable", "blocked")),
    el("td", {}, w.monitoring === null ? "no metrics port" : mark(w.monitoring, "reaches metrics", "blind")),
    el("td", {}, w.findings.length ? w.findings.map((i) => n.findings[i].rule).join(", ") : ""));
  wr.dataset.workload = w.name;
  return wr;
}

// Explain: the engine's reasoning as a tree.
function verdict(ok) {
  return el("span", { class: ok ? "allowed" : "denied" }, ok ? "ALLOWED" : "DENIED");
}
function direction(title, d) {
  const items = [];
  items.push(el("li", {}, `subject: ${d.subject}`));
  if (d.node_local) items.push(el("li", {}, `node-local (node ${d.node_local}): always allowed`));
  if (d.decided_by) items.push(el("li", {}, `decided by ${d.decided_by.tier} ClusterNetworkPolicy ${d.decided_by.policy}, rule ${d.decided_by.rule} (${d.decided_by.action})`));
  for (const tier of ["admin", "baseline"]) {
    for (const c of d[tier] || []) {
      items.push(el("li", {}, `${tier} ClusterNetworkPolicy `, policyLink(c.policy), ` (priority ${c.priority})`,
        el("ul", {}, ...c.rules.map((r) => el("li", {}, `rule ${r.index} ${r.action}: ${r.matched ? "matches" : "does not match"}`)))));
    }
  }
  for (const p of d.policies) {
    items.push(el("li", {}, policyLink(p.policy), ": ", verdict(p.allows),
      el("ul", {}, ...p.rules.map((r) => el("li", {}, `rule ${r.index}: ${r.matched ? "matches" : "does not match"}`,
        el("ul", {}, ...r.peers.map((x) => el("li", {}, `peer ${x.index}: ${x.reason}`)), ...r.ports.map((x) => el("li", {}, `port ${x.index}: ${x.reason}`))))))));
  }
  for (const n of d.not_selecting) items.push(el("li", {}, policyLink(n.policy), ` does not select it: ${n.reason}`));
  return el("li", {}, `${title}: `, verdict(d.allowed), el("ul", {}, ...items));
}
async function runExplain(ev) {
  if (ev) ev.preventDefault();
  const q = new URLSearchParams({ from: $("explain-from").value, to: $("explain-to").value, port: $("explain-port").value });
  const out = $("explain-result");
  try {
    const e = await api("/api/explain?" + q);
    out.replaceChildren(
      el("p", { class: "verdict" }, `${e.from} → ${e.to} on ${e.port}/${e.protocol}: `, verdict(e.allowed)),
      el("ul", { class: "tree" }, direction(`Egress from ${e.from}`, e.egress), direction(`Ingress to ${e.to}`, e.ingress)));
  } catch (err) {
    out.replaceChildren(el("p", { class: "denied", role: "alert" }, err.message));
  }
}
$("explain-form").addEventListener("submit", runExplain);

// The page follows the input: the server watches the files and analyses them again;
// the page asks every two seconds whether that happened, and redraws.
let generation = null;
function showOverview(o) {
  $("input").textContent = `${o.input}: ${o.pods.length} pods, ${o.policies} policies, ${o.cluster_policies} cluster policies, ${o.classes} equivalence classes`;
  showProblem(o.problem);
}
function showProblem(problem) {
  const banner = $("problem");
  banner.hidden = !problem;
  banner.textContent = problem ? `The input's last change could not be analysed (showing the previous analysis):\n${problem}` : "";
}
async function loadAll(o) {
  $("map-namespace").replaceChildren(el("option", { value: "" }, "all"), ...o.namespaces.map((n) => el("option", { value: n }, n)));
  const liveNs = $("live-namespace").value;
  $("live-namespace").replaceChildren(el("option", { value: "" }, "all"), ...o.namespaces.map((n) => el("option", { value: n }, n)));
  $("live-namespace").value = liveNs;
  $("pods").replaceChildren(...o.pods.map((p) => el("option", { value: p })));
  $("policy-select").replaceChildren();
  await loadChange();
  await Promise.all([drawMap(), drawMatrix(), drawCoverage(), loadPolicies()]);
}
async function poll() {
  try {
    // The small status every tick; the overview (every pod's name) only on a change.
    const st = await api("/api/status");
    showProblem(st.problem);
    if (st.generation !== generation) {
      const o = await api("/api/overview");
      showOverview(o);
      generation = o.generation;
      await loadAll(o);
      document.body.dataset.generation = String(generation);
    }
  } catch (err) {
    // The server is away (stopped or restarting): try again at the next tick.
  }
}

async function start() {
  const o = await api("/api/overview");
  generation = o.generation;
  showOverview(o);
  $("map-namespace").addEventListener("change", drawMap);
  $("map-cross").addEventListener("change", drawMap);
  $("map-changed").addEventListener("change", drawMap);
  for (const id of ["map-pairs", "map-protocol", "map-port", "map-labels"]) $(id).addEventListener("change", drawMap);
  $("map-filter").addEventListener("submit", (ev) => { ev.preventDefault(); drawMap(); });
  $("policy-select").addEventListener("change", showPolicy);
  $("policy-on-map").addEventListener("click", () => {
    highlight(new Set(policyShown ? policyShown.pods : []));
    show("map");
  });
  for (const id of ["live-namespace", "live-verdict"]) $(id).addEventListener("change", followFlows);
  for (const id of ["live-pod", "live-policy"]) $(id).addEventListener("change", followFlows);
  $("live-filter").addEventListener("submit", (ev) => { ev.preventDefault(); followFlows(); });
  await loadAll(o);
  followFlows();
  document.body.dataset.generation = String(generation);
  document.body.dataset.ready = "true";
  setInterval(poll, 2000);
}
start();
