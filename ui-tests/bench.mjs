// The UI at scale (not part of the test suite; run by hand, figures in README):
//   cargo build --release -p palisade-cli && node ui-tests/bench.mjs [PODS] [POLICIES]
// On a synthetic cluster (palisade synth, 10,000 pods / 2,000 policies by default): the
// server's start (load, compile, report, lint), the first useful paint (navigation to the
// page drawn with the map, matrix, coverage and policies loaded), and interactions (the
// map's namespace filter, expanding a namespace, an explain), each timed from the user's
// action to the page updated, three runs each, median reported.
import { spawn, execFileSync } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { chromium } from "playwright-core";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const binary = process.env.PALISADE ?? path.join(root, "target/release/palisade");
const [pods, policies] = [process.argv[2] ?? "10000", process.argv[3] ?? "2000"];
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "palisade-ui-bench-"));
const input = path.join(dir, "cluster.json");
fs.writeFileSync(input, execFileSync(binary, ["synth", "--pods", pods, "--policies", policies], { maxBuffer: 1 << 30 }));

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const t0 = performance.now();
const server = spawn(binary, ["ui", input, "--listen", "127.0.0.1:0"], { stdio: ["ignore", "pipe", "inherit"] });
const first = await new Promise((resolve) => createInterface({ input: server.stdout }).once("line", resolve));
const startMs = performance.now() - t0;
const base = first.replace("palisade ui: ", "").replace(/\/$/, "");
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"],
});
const paint = [], filter = [], expand = [], explain = [], explainInPage = [];
let units = 0, edges = 0;
try {
  for (let run = 0; run < 3; run++) {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    let t = performance.now();
    await page.goto(base + "/");
    await page.waitForSelector("body[data-ready=true]", { timeout: 120000 });
    paint.push(performance.now() - t);
    units = await page.locator("#map-graph rect.unit").count();
    edges = await page.locator("#map-edges tbody tr").count();
    const namespaces = await page.$$eval("#map-namespace option", (os) => os.map((o) => o.value).filter(Boolean));
    const ns = namespaces[Math.min(5, namespaces.length - 1)];
    // Filter: the table redrawn with only that namespace's edges.
    t = performance.now();
    await page.selectOption("#map-namespace", ns);
    await page.waitForFunction((ns) => [...document.querySelectorAll("#map-edges tbody tr")].every((tr) => tr.dataset.from.startsWith(ns + "/") || tr.dataset.to.startsWith(ns + "/")), ns);
    filter.push(performance.now() - t);
    // Expand that namespace into its workloads.
    t = performance.now();
    await page.click(`#map-graph text.ns-label[data-namespace='${ns}']`);
    await page.waitForFunction((ns) => !document.querySelector(`#map-graph rect.unit.collapsed[data-name='${ns}/*']`), ns);
    expand.push(performance.now() - t);
    // Explain the first edge: timed by the driver, and in the page from the click event
    // to the first frame painted with the tree (what a person waits for).
    await page.evaluate(() => document.addEventListener("click", () => { window.__clicked = performance.now(); }, { capture: true, once: true }));
    t = performance.now();
    await page.click("#map-edges tbody tr");
    await page.waitForSelector("#explain-result .verdict");
    explain.push(performance.now() - t);
    explainInPage.push(await page.evaluate(() => new Promise((done) => requestAnimationFrame(() => done(performance.now() - window.__clicked)))));
    await page.close();
  }
} finally {
  await browser.close();
  server.kill();
  fs.rmSync(dir, { recursive: true });
}
const f = (xs) => `${Math.round(median(xs))} ms (${xs.map(Math.round).join(", ")})`;
console.log(`palisade ui bench: ${pods} pods / ${policies} policies, ${os.cpus().length} cores`);
console.log(`server ready (load, compile, report, lint): ${Math.round(startMs)} ms`);
console.log(`first useful paint: ${f(paint)}; map: ${units} nodes, ${edges} edges (namespaces collapsed)`);
console.log(`namespace filter: ${f(filter)}`);
console.log(`expand a namespace: ${f(expand)}`);
console.log(`explain an edge: ${f(explain)}; in the page, click to the tree painted: ${f(explainInPage)}`);
