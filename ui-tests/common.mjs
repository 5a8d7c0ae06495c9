// What the browser tests share: the binary, a server started on a free loopback port, the
// browser (Debian's Chromium through playwright-core), and a page opened on a server.
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import path from "node:path";
import { chromium } from "playwright-core";

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const binary = process.env.PALISADE ?? path.join(root, "target/debug/palisade");
export const shots = path.join(root, "docs/screenshots");

// Starts `command ARGS` (prefix, e.g. `ip netns exec NS`, then the binary), which prints
// `palisade ui: http://ADDR/` first on stdout; its process and address.
export async function startServer(args, { prefix = [], processes = [] } = {}) {
  const [cmd, ...rest] = [...prefix, binary, ...args];
  const proc = spawn(cmd, rest, { stdio: ["ignore", "pipe", "inherit"] });
  processes.push(proc);
  const first = await new Promise((resolve, reject) => {
    createInterface({ input: proc.stdout }).once("line", resolve);
    proc.once("exit", (code) => reject(new Error(`${args[0]} exited ${code}`)));
  });
  return first.replace("palisade ui: ", "").replace(/\/$/, "");
}

// `palisade ui ARGS` on a free loopback port; its address.
export function startUi(args, processes) {
  return startServer(["ui", ...args, "--listen", "127.0.0.1:0"], { processes });
}

// Headless Chromium; `executablePath` may be a wrapper (the lab's runs it in a namespace).
export function launch(executablePath = process.env.CHROMIUM ?? "/usr/bin/chromium") {
  return chromium.launch({
    executablePath,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"],
  });
}

// A page on `at`, ready (the first analysis drawn), recording any request that leaves
// the server (there must be none).
export async function open(browser, at) {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const foreign = [];
  page.on("request", (r) => { if (!r.url().startsWith(at)) foreign.push(r.url()); });
  await page.goto(at + "/");
  await page.waitForSelector("body[data-ready=true]");
  return { page, foreign };
}
