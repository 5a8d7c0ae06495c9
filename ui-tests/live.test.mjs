// The live view in a real browser, fed by a flow log file (`palisade ui --flows`): rows
// stream in as lines are appended, the map lights what the flows used, the server's
// filters apply, and a flow links to its explanation. The flow lines are written here by
// hand in the agent's documented shape, for the bundled shop; the expected verdicts and
// policies are read from examples/shop/policies.yaml by hand.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import fs from "node:fs";
import os from "node:os";
import { root, shots, startUi, launch, open } from "./common.mjs";

let browser, dir, log, base;
const servers = [];

const now = () => Date.now() / 1000;
// frontend -> backend 8080: backend-ingress's rule 0 admits it, frontend-to-backend's
// egress rule 0 lets it out.
const allowed = (t) => JSON.stringify({
  dst: "shop/backend", dst_ip: "10.244.1.11", egress: { direction: "egress", policy: "shop/frontend-to-backend", rule: 0 },
  ingress: { direction: "ingress", policy: "shop/backend-ingress", rule: 0 }, port: 8080, protocol: "TCP",
  src: "shop/frontend", src_ip: "10.244.1.10", time: t, verdict: "allowed",
});
// frontend -> database 5432: frontend's egress allows only DNS and backend (default-deny-all).
const denied = (t) => JSON.stringify({
  direction: "egress", dst: "shop/database", dst_ip: "10.244.1.12", isolated_by: ["shop/default-deny-all", "shop/allow-dns-egress", "shop/frontend-to-backend"],
  policy: "default-deny", port: 5432, protocol: "TCP", src: "shop/frontend", src_ip: "10.244.1.10", time: t, verdict: "denied",
});

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "palisade-live-"));
  log = path.join(dir, "flows.jsonl");
  fs.writeFileSync(log, allowed(now()) + "\nnot a flow record\n");
  base = await startUi([path.join(root, "examples/shop"), "--flows", log], servers);
  browser = await launch();
});

after(async () => {
  await browser?.close();
  for (const s of servers) s.kill();
  fs.rmSync(dir, { recursive: true, force: true });
});

const rows = (page) => page.$$eval("#live-table tbody tr", (trs) => trs.map((tr) => [...tr.cells].slice(1).map((c) => c.textContent).join(" ")));

test("flows stream into the table, light the map, filter on the server and link to explain", async () => {
  const { page, foreign } = await open(browser, base);
  await page.click("#tab-live");
  await page.waitForFunction(() => document.querySelectorAll("#live-table tbody tr").length === 1);
  assert.deepEqual(await rows(page), ["allowed shop/frontend shop/backend 8080/TCP shop/backend-ingress"]);
  assert.equal(await page.textContent("#live-source"), `Flows from ${log} (1 unreadable line(s) skipped)`);
  // The map's frontend -> backend arrow is lit; nothing is drawn as denied.
  const lit = () => page.$$eval("#map-graph path.edge.lit", (ps) => ps.map((p) => `${p.dataset.from} ${p.dataset.to}`));
  assert.deepEqual(await lit(), ["shop/frontend shop/backend"]);

  // A denial appended to the file is in the table within a second.
  const t0 = Date.now();
  fs.appendFileSync(log, denied(now()) + "\n");
  await page.waitForFunction(() => document.querySelectorAll("#live-table tbody tr").length === 2, null, { timeout: 1000 });
  const took = Date.now() - t0;
  assert.ok(took < 1000, `${took} ms`);
  // Newest first, denied marked by its word and shape as well as colour.
  assert.deepEqual(await rows(page), [
    "denied shop/frontend shop/database 5432/TCP default-deny",
    "allowed shop/frontend shop/backend 8080/TCP shop/backend-ingress",
  ]);
  assert.equal(await page.$eval("#live-table tbody tr:first-child", (tr) => tr.className), "flow-denied");
  await page.screenshot({ path: path.join(shots, "live.png"), fullPage: true });
  await page.click("#tab-map");
  const deniedEdges = await page.$$eval("#map-graph path.flow-denied-edge", (ps) => ps.map((p) => `${p.dataset.from} ${p.dataset.to}`));
  assert.deepEqual(deniedEdges, ["shop/frontend shop/database"]);
  await page.screenshot({ path: path.join(shots, "live-map.png"), fullPage: true });

  // The verdict filter is the server's: only the denial.
  await page.click("#tab-live");
  await page.selectOption("#live-verdict", "denied");
  await page.waitForFunction(() => document.querySelectorAll("#live-table tbody tr").length === 1);
  assert.deepEqual(await rows(page), ["denied shop/frontend shop/database 5432/TCP default-deny"]);
  // A later allowed flow does not pass it; a later denial does.
  fs.appendFileSync(log, allowed(now()) + "\n" + denied(now()) + "\n");
  await page.waitForFunction(() => document.querySelectorAll("#live-table tbody tr").length === 2);
  assert.deepEqual((await rows(page)).map((r) => r.split(" ")[0]), ["denied", "denied"]);
  // By policy: backend-ingress decided only the allowed flows.
  await page.selectOption("#live-verdict", "");
  await page.fill("#live-policy", "shop/backend-ingress");
  await page.press("#live-policy", "Enter");
  await page.waitForFunction(() => [...document.querySelectorAll("#live-table tbody tr")].every((tr) => tr.className === "flow-allowed") && document.querySelectorAll("#live-table tbody tr").length === 2);

  // A flow links to its explanation: the engine's verdict for the same pair and port.
  await page.fill("#live-policy", "");
  await page.press("#live-policy", "Enter");
  await page.selectOption("#live-verdict", "denied");
  await page.waitForFunction(() => [...document.querySelectorAll("#live-table tbody tr")].map((tr) => tr.className).join() === "flow-denied,flow-denied");
  await page.click("#live-table tbody tr:first-child");
  const verdict = page.locator("#explain-result .verdict");
  await verdict.waitFor();
  assert.equal(await verdict.textContent(), "shop/frontend → shop/database on 5432/TCP: DENIED");
  assert.deepEqual(foreign, []);
  await page.close();
});

test("without a source of flows the live view says how to get one", async () => {
  const at = await startUi([path.join(root, "examples/shop")], servers);
  const { page } = await open(browser, at);
  await page.click("#tab-live");
  await page.waitForFunction(() => document.getElementById("live-source").textContent !== "");
  assert.match(await page.textContent("#live-source"), /--flows FILE/);
  await page.close();
});
