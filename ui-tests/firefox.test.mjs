// The same page in Firefox: Debian's firefox-esr driven by puppeteer-core over WebDriver
// BiDi (Playwright's own Firefox is a patched build that is not downloadable here). The
// core paths only, with the expectations of shop.test.mjs and live.test.mjs (derived by
// hand from examples/shop); the rest of the suite runs in Chromium.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import fs from "node:fs";
import os from "node:os";
import puppeteer from "puppeteer-core";
import { root, shots, startUi } from "./common.mjs";

let browser, base, dir, log;
const servers = [];

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "palisade-firefox-"));
  log = path.join(dir, "flows.jsonl");
  fs.writeFileSync(log, "");
  base = await startUi([path.join(root, "examples/shop"), "--flows", log], servers);
  browser = await puppeteer.launch({ browser: "firefox", executablePath: process.env.FIREFOX ?? "/usr/bin/firefox-esr", headless: true });
});

after(async () => {
  await browser?.close();
  for (const s of servers) s.kill();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function open() {
  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 900 });
  await page.goto(base + "/");
  await page.waitForSelector("body[data-ready=true]");
  return page;
}

const texts = (page, sel) => page.$$eval(sel, (els) => els.map((e) => [...e.children].map((c) => c.textContent).join(" ")));

test("Firefox: the map, the keyboard, explain", async () => {
  const page = await open();
  const rows = await texts(page, "#map-edges tbody tr");
  assert.equal(rows.length, 11);
  assert.ok(rows.includes("shop/frontend shop/backend 8080 - -"));
  assert.equal(await page.$$eval("#map-graph path.edge", (ps) => ps.length), 11);
  await page.screenshot({ path: path.join(shots, "firefox-map.png"), fullPage: true });
  // Tabs follow the arrow keys.
  await page.focus("#tab-map");
  await page.keyboard.press("ArrowRight");
  assert.equal(await page.$eval("#tab-coverage", (t) => t.getAttribute("aria-selected")), "true");
  // frontend -> database: DENIED.
  await page.click("#tab-explain");
  await page.type("#explain-from", "shop/frontend");
  await page.type("#explain-to", "shop/database");
  await page.type("#explain-port", "5432");
  await page.click("#explain-form button[type=submit]");
  await page.waitForSelector("#explain-result .verdict");
  assert.equal(await page.$eval("#explain-result .verdict", (v) => v.textContent), "shop/frontend → shop/database on 5432/TCP: DENIED");
  await page.close();
});

test("Firefox: a flow appended to the log is in the live table within a second", async () => {
  const page = await open();
  await page.click("#tab-live");
  await page.waitForFunction(() => document.getElementById("live-source").textContent.startsWith("Flows from"));
  const t0 = Date.now();
  fs.appendFileSync(log, JSON.stringify({
    direction: "egress", dst: "shop/database", dst_ip: "10.244.1.12", policy: "default-deny", port: 5432, protocol: "TCP",
    src: "shop/frontend", src_ip: "10.244.1.10", time: Date.now() / 1000, verdict: "denied",
  }) + "\n");
  await page.waitForSelector("#live-table tbody tr.flow-denied", { timeout: 1000 });
  assert.ok(Date.now() - t0 <= 1000);
  const rows = await texts(page, "#live-table tbody tr");
  assert.equal(rows[0].split(" ").slice(1).join(" "), "denied shop/frontend shop/database 5432/TCP default-deny");
  await page.close();
});
