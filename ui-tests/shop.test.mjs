// palisade ui in a real browser (Debian's Chromium, driven by playwright-core) on the
// bundled shop. Expectations are derived by hand from examples/shop (the same reading as
// crates/palisade-cli/tests/ui.rs and narrowing.rs), never copied from a run.
// Screenshots go to docs/screenshots/ (committed, shown in README).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import fs from "node:fs";
import os from "node:os";
import { root, shots, startUi, launch, open as openAt } from "./common.mjs";

let browser, base;
const servers = [];
const startServer = (args) => startUi(args, servers);

before(async () => {
  base = await startServer([path.join(root, "examples/shop")]);
  browser = await launch();
});

after(async () => {
  await browser?.close();
  for (const s of servers) s.kill();
});

const open = (at = base) => openAt(browser, at);

test("the map lists exactly the connections analyze allows", async () => {
  const { page, foreign } = await open();
  const rows = await page.$$eval("#map-edges tbody tr", (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent).join(" ")));
  // By hand: DNS from shop's pods, prometheus's scrapes and its open egress, coredns's open
  // egress, frontend -> backend 8080 and backend -> database 5432; nothing else.
  assert.deepEqual(rows.sort(), [
    "kube-system/coredns monitoring/prometheus all all all",
    "kube-system/coredns shop/frontend 8080 - -",
    "monitoring/prometheus kube-system/coredns all all all",
    "monitoring/prometheus shop/backend 9090 - -",
    "monitoring/prometheus shop/database 9187 - -",
    "monitoring/prometheus shop/frontend 8080,9090 - -",
    "shop/backend kube-system/coredns 53 53 -",
    "shop/backend shop/database 5432 - -",
    "shop/database kube-system/coredns 53 53 -",
    "shop/frontend kube-system/coredns 53 53 -",
    "shop/frontend shop/backend 8080 - -",
  ]);
  // One arrow per connection between two different workloads.
  assert.equal(await page.locator("#map-graph path.edge").count(), 11);
  await page.screenshot({ path: path.join(shots, "map.png"), fullPage: true });
  // The namespace filter narrows on the server.
  await page.selectOption("#map-namespace", "monitoring");
  await page.waitForFunction(() => document.querySelectorAll("#map-edges tbody tr").length === 5);
  assert.deepEqual(foreign, []);
  await page.close();
});

test("frontend to database is DENIED, with the policies explain names", async () => {
  const { page } = await open();
  await page.click("#tab-explain");
  await page.fill("#explain-from", "shop/frontend");
  await page.fill("#explain-to", "shop/database");
  await page.fill("#explain-port", "5432");
  await page.click("#explain-form button[type=submit]");
  const verdict = page.locator("#explain-result .verdict");
  await verdict.waitFor();
  assert.equal(await verdict.textContent(), "shop/frontend → shop/database on 5432/TCP: DENIED");
  const tree = await page.textContent("#explain-result");
  // frontend's egress is isolated by default-deny-all (and allowed only DNS and backend);
  // database's ingress admits only backend (database-ingress).
  for (const policy of ["shop/default-deny-all", "shop/frontend-to-backend", "shop/database-ingress"]) {
    assert.ok(tree.includes(policy), policy);
  }
  assert.ok(tree.includes("Egress from shop/frontend"));
  // Each policy named links to its view.
  await page.click("#explain-result a.policy-link:text-is('shop/database-ingress')");
  assert.equal(await page.isVisible("#policies"), true);
  await page.waitForFunction(() => document.getElementById("policy-title").textContent === "NetworkPolicy shop/database-ingress");
  await page.screenshot({ path: path.join(shots, "explain.png"), fullPage: true });
  await page.close();
});

test("clicking an edge explains it as ALLOWED", async () => {
  const { page } = await open();
  await page.click("#map-edges tbody tr[data-from='shop/frontend'][data-to='shop/backend']");
  const verdict = page.locator("#explain-result .verdict");
  await verdict.waitFor();
  assert.equal(await verdict.textContent(), "shop/frontend → shop/backend on 8080/TCP: ALLOWED");
  await page.close();
});

test("the matrix gives the share of pod pairs, and the tabs follow the keyboard", async () => {
  const { page } = await open();
  await page.focus("#tab-map");
  await page.keyboard.press("ArrowRight");
  assert.equal(await page.getAttribute("#tab-coverage", "aria-selected"), "true");
  await page.keyboard.press("ArrowRight");
  assert.equal(await page.getAttribute("#tab-matrix", "aria-selected"), "true");
  assert.equal(await page.isVisible("#matrix"), true);
  // shop -> shop: 2 of its 6 ordered pod pairs (frontend -> backend, backend -> database).
  const cell = page.locator("#matrix-table tr:nth-child(4) td:nth-of-type(3)");
  assert.equal(await cell.textContent(), "33%");
  assert.equal(await cell.getAttribute("data-allowed"), "2");
  await page.screenshot({ path: path.join(shots, "matrix.png"), fullPage: true });
  await page.close();
});

test("the coverage view marks what lint marks", async () => {
  const { page } = await open();
  await page.click("#tab-coverage");
  const row = async (sel) => page.$$eval(`#coverage-table tr${sel} > *`, (cells) => cells.map((c) => c.textContent));
  // shop: default deny both ways (default-deny-all), its 3 pods isolated, DNS allowed,
  // prometheus reaches every metrics port (backend 9090, frontend 9090, database 9187).
  const shop = await row("[data-namespace='shop']");
  assert.deepEqual(shop.slice(0, 8), ["▸ shop", "3", "3 of 3", "3 of 3", "present", "present", "reachable", "reaches metrics"]);
  assert.equal(shop[8], "none");
  // monitoring: no policy at all, so lint's PAL001 and PAL002 (default deny missing).
  const mon = await row("[data-namespace='monitoring']");
  assert.deepEqual(mon.slice(0, 8), ["▸ monitoring", "1", "0 of 1", "0 of 1", "missing", "missing", "reachable", "no metrics port"]);
  assert.match(mon[8], /^2 finding\(s\)/);
  // kube-system is the platform's own: lint's coverage rules do not look there.
  const sys = await row("[data-namespace='kube-system']");
  assert.deepEqual(sys.slice(4, 6), ["not checked", "not checked"]);
  // A missing mark leads to its finding and fix.
  await page.click("#coverage-table tr[data-namespace='monitoring'] td:nth-of-type(4) button");
  const focused = await page.textContent("#coverage-table tr[data-namespace='monitoring'] details li.focus");
  assert.ok(focused.startsWith("PAL001 no-default-deny-ingress") && focused.includes("policyTypes"), focused);
  // shop's workloads, each isolated both ways, reaching DNS and scraped.
  await page.click("#coverage-table tr[data-namespace='shop'] .ns-toggle");
  assert.deepEqual(await row("[data-workload='shop/database']"), ["shop/database", "1", "yes", "yes", "", "", "reachable", "reaches metrics", ""]);
  await page.screenshot({ path: path.join(shots, "coverage.png"), fullPage: true });
  await page.close();
});

test("a policy's pods are listed and highlighted on the map", async () => {
  const { page } = await open();
  await page.click("#tab-policies");
  await page.selectOption("#policy-select", { label: "NetworkPolicy shop/database-ingress" });
  await page.waitForFunction(() => document.getElementById("policy-title").textContent === "NetworkPolicy shop/database-ingress");
  // database-ingress selects app=database: the database pod only.
  assert.deepEqual(await page.$$eval("#policy-pods li", (lis) => lis.map((l) => l.textContent)), ["shop/database"]);
  assert.ok((await page.textContent("#policy-yaml")).includes("name: database-ingress"));
  // What it allows, read off policies.yaml: backend's pods, on 5432.
  assert.deepEqual(await page.$$eval("#policy-allows li", (lis) => lis.map((l) => l.textContent)),
    ["ingress rule 0: from pods app=backend in namespace shop (1 pod(s) now: shop/backend), on TCP 5432"]);
  await page.selectOption("#policy-select", { label: "NetworkPolicy shop/default-deny-all" });
  await page.waitForFunction(() => document.getElementById("policy-title").textContent === "NetworkPolicy shop/default-deny-all");
  assert.deepEqual(await page.$$eval("#policy-allows li", (lis) => lis.map((l) => l.textContent)), [
    "ingress: nothing (it isolates its pods for ingress and allows no ingress)",
    "egress: nothing (it isolates its pods for egress and allows no egress)",
  ]);
  await page.selectOption("#policy-select", { label: "NetworkPolicy shop/database-ingress" });
  await page.waitForFunction(() => document.getElementById("policy-title").textContent === "NetworkPolicy shop/database-ingress");
  await page.screenshot({ path: path.join(shots, "policy.png"), fullPage: true });
  await page.click("#policy-on-map");
  assert.equal(await page.isVisible("#map"), true);
  const lit = await page.$$eval("#map-graph rect.unit.highlight", (rs) => rs.map((r) => r.dataset.name));
  assert.deepEqual(lit, ["shop/database"]);
  await page.close();
});

test("the dash mistake: the change view shows grafana to backend opened, nothing closed", async () => {
  // Seed 001 without allow-from-monitoring (old) and with specific-access's podSelector
  // made its own item (new): ORed, every monitoring pod may reach backend.
  const seed = fs.readFileSync(path.join(root, "examples/seeds/001-guide.yaml"), "utf8");
  const old = seed.split("\n---").filter((d) => !d.includes("name: allow-from-monitoring")).join("\n---");
  const anded = "\n      podSelector:\n        matchLabels:\n          role: prometheus";
  assert.equal(old.split(anded).length, 2);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "palisade-ui-"));
  fs.writeFileSync(path.join(dir, "old.yaml"), old);
  fs.writeFileSync(path.join(dir, "new.yaml"), old.replace(anded, "\n    - podSelector:\n        matchLabels:\n          role: prometheus"));
  const at = await startServer([path.join(dir, "new.yaml"), "--old", path.join(dir, "old.yaml")]);
  const { page } = await open(at);
  await page.click("#tab-change");
  const rows = (id) => page.$$eval(`#${id} tbody tr`, (trs) => trs.map((tr) => [...tr.cells].slice(0, 4).map((c) => c.textContent).join(" ")));
  assert.deepEqual(await rows("change-opened"), ["monitoring/grafana your-namespace/app=backend TCP+UDP+SCTP all"]);
  assert.deepEqual(await rows("change-closed"), ["nothing"]);
  await page.screenshot({ path: path.join(shots, "change.png"), fullPage: true });
  // On the map, only what changed: the one opened edge.
  await page.click("#tab-map");
  await page.check("#map-changed");
  await page.waitForFunction(() => document.querySelectorAll("#map-edges tbody tr").length === 1);
  const edge = await page.$eval("#map-edges tbody tr", (tr) => [tr.dataset.from, tr.dataset.to, tr.className]);
  assert.deepEqual(edge, ["monitoring/grafana", "your-namespace/app=backend", "opened"]);
  assert.equal(await page.locator("#map-graph path.edge.opened").count(), 1);
  await page.close();
  fs.rmSync(dir, { recursive: true });
});

test("a namespace collapses into one node and expands again", async () => {
  const { page } = await open();
  // The shop is small: every namespace starts expanded. Collapse shop by its name.
  await page.click("#map-graph text.ns-label[data-namespace='shop']");
  await page.waitForSelector("#map-graph rect.unit.collapsed");
  const collapsed = await page.$$eval("#map-graph rect.unit.collapsed", (rs) => rs.map((r) => r.dataset.name));
  assert.deepEqual(collapsed, ["shop/*"]);
  // monitoring -> shop is now one edge with the union of the scrape and http ports.
  const rows = await page.$$eval("#map-edges tbody tr", (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent).join(" ")));
  assert.ok(rows.includes("monitoring/prometheus shop/* 8080,9090,9187 - -"), rows.join("\n"));
  await page.click("#map-graph text.ns-label[data-namespace='shop']");
  await page.waitForFunction(() => !document.querySelector("#map-graph rect.unit.collapsed"));
  await page.close();
});

test("the page follows the files: a change is redrawn without a reload", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "palisade-ui-"));
  for (const f of ["namespaces.yaml", "workloads.yaml", "policies.yaml"]) {
    fs.copyFileSync(path.join(root, "examples/shop", f), path.join(dir, f));
  }
  const at = await startServer([dir]);
  const { page } = await open(at);
  const row = "#map-edges tbody tr[data-from='shop/frontend'][data-to='shop/backend']";
  assert.equal(await page.locator(row).count(), 1);
  // Without backend-ingress, frontend may no longer reach backend.
  const policies = fs.readFileSync(path.join(dir, "policies.yaml"), "utf8");
  fs.writeFileSync(path.join(dir, "policies.yaml"), policies.split("\n---").filter((d) => !d.includes("name: backend-ingress")).join("\n---"));
  await page.waitForFunction(() => document.body.dataset.generation === "1", null, { timeout: 15000 });
  await page.waitForFunction((sel) => document.querySelectorAll(sel).length === 0, row);
  assert.equal(await page.locator("#map-edges tbody tr").count(), 10);
  await page.close();
  fs.rmSync(dir, { recursive: true });
});

test("denied pairs on demand, and the port and label filters, on the map", async () => {
  const { page } = await open();
  // app=database: the three edges with the database at one end (by hand, as in ui.rs).
  await page.fill("#map-labels", "app=database");
  await page.press("#map-labels", "Enter");
  await page.waitForFunction(() => document.querySelectorAll("#map-edges tbody tr").length === 3);
  await page.fill("#map-labels", "");
  await page.press("#map-labels", "Enter");
  // Denied pairs within shop: frontend -> database among them, drawn dashed, explained on
  // the port asked for.
  await page.selectOption("#map-namespace", "shop");
  await page.selectOption("#map-pairs", "denied");
  await page.waitForFunction(() => document.querySelectorAll("#map-edges tbody tr.pair-denied").length === 9);
  assert.equal(await page.locator("#map-graph path.edge.pair-denied").count(), 9);
  await page.screenshot({ path: path.join(shots, "map-denied.png"), fullPage: true });
  await page.fill("#map-port", "5432");
  await page.press("#map-port", "Enter");
  await page.click("#map-edges tbody tr[data-from='shop/frontend'][data-to='shop/database']");
  const verdict = page.locator("#explain-result .verdict");
  await verdict.waitFor();
  assert.equal(await verdict.textContent(), "shop/frontend → shop/database on 5432/TCP: DENIED");
  // Half-open without a port is refused, with the reason shown.
  await page.click("#tab-map");
  await page.fill("#map-port", "");
  await page.selectOption("#map-pairs", "half-open");
  await page.waitForSelector("#map-error:not([hidden])");
  assert.match(await page.textContent("#map-error"), /half-open pairs are per port/);
  await page.close();
});

test("the matrix drills down to workloads and to pods", async () => {
  const { page } = await open();
  await page.click("#tab-matrix");
  // shop -> shop (row 4, column 3, as above).
  await page.click("#matrix-table tr:nth-child(4) td:nth-of-type(3)");
  await page.waitForSelector("#workloads-table");
  const cell = (from, to) => page.textContent(`#workloads-table td[data-from='${from}'][data-to='${to}']`);
  // By hand: frontend -> backend on 8080, backend -> database on 5432, nothing else
  // inside shop; a one-pod workload has no pair with itself.
  assert.equal(await cell("shop/frontend", "shop/backend"), "TCP 8080");
  assert.equal(await cell("shop/backend", "shop/database"), "TCP 5432");
  assert.equal(await cell("shop/frontend", "shop/database"), "denied");
  assert.equal(await cell("shop/database", "shop/frontend"), "denied");
  assert.equal(await cell("shop/frontend", "shop/frontend"), "–");
  await page.click("#workloads-table td[data-from='shop/frontend'][data-to='shop/backend']");
  assert.equal(await page.textContent("#matrix-pods-verdict"), "1 pod pair(s), judged alike (one equivalence class each side): allowed on TCP 8080, UDP -, SCTP -");
  await page.screenshot({ path: path.join(shots, "matrix-drill.png"), fullPage: true });
  await page.click("#matrix-pods button");
  const verdict = page.locator("#explain-result .verdict");
  await verdict.waitFor();
  assert.equal(await verdict.textContent(), "shop/frontend → shop/backend on 8080/TCP: ALLOWED");
  await page.close();
});
