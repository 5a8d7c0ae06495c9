// The live view over a real agent in the lab (root): `palisade agent --ui` in a node's
// network namespace, Chromium started in that namespace (the UI stays on the node's
// loopback), real packets from a pod's namespace. A denied probe must be in the flow
// table within a second of being sent. Expectations from the manifests below, by hand:
// x/b is isolated for ingress with no rule (x/deny-b), x/a is not isolated.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import path from "node:path";
import fs from "node:fs";
import os from "node:os";
import { binary, shots, launch } from "./common.mjs";

const LAB = "uil";
const nodeNs = `pal-${LAB}-node@n1`;
const podNs = (key) => `pal-${LAB}-${key.replace("/", ".")}`;
const isRoot = process.getuid?.() === 0;
const required = process.env.PALISADE_ROOT_TESTS === "require";

const MANIFESTS = `
apiVersion: v1
kind: Namespace
metadata: {name: x}
---
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: x, labels: {app: a}}
spec: {nodeName: n1, containers: [{name: c, image: i, ports: [{containerPort: 80}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: x, labels: {app: b}}
spec: {nodeName: n1, containers: [{name: c, image: i, ports: [{containerPort: 80}]}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-b, namespace: x}
spec: {podSelector: {matchLabels: {app: b}}, policyTypes: [Ingress]}
`;

let dir, agent, browser;

before(() => {
  if (!isRoot) return;
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "palisade-live-lab-"));
  fs.mkdirSync(path.join(dir, "manifests"));
  fs.writeFileSync(path.join(dir, "manifests", "lab.yaml"), MANIFESTS);
  execFileSync(binary, ["lab", "down", "--lab", LAB], { stdio: "ignore" });
  execFileSync(binary, ["lab", "up", "--lab", LAB, "--no-dataplane", "-q", path.join(dir, "manifests")], { stdio: "inherit" });
});

// Interrupted (Ctrl-C, a CI timeout): the lab's namespaces go too.
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.once(signal, () => {
    agent?.kill();
    if (isRoot) execFileSync(binary, ["lab", "down", "--lab", LAB], { stdio: "ignore" });
    process.exit(130);
  });
}

after(async () => {
  if (!isRoot) return;
  await browser?.close();
  if (agent && agent.exitCode === null) {
    const exited = new Promise((ok) => agent.once("exit", ok));
    agent.kill();
    await exited;
  }
  execFileSync(binary, ["lab", "down", "--lab", LAB], { stdio: "ignore" });
  fs.rmSync(dir, { recursive: true, force: true });
});

// An address of the pod (from inside its namespace).
function podIp(key) {
  const out = execFileSync("ip", ["netns", "exec", podNs(key), "ip", "-4", "-o", "addr", "show", "scope", "global"], { encoding: "utf8" });
  return out.match(/inet ([0-9.]+)\//)[1];
}

// A TCP connection from one pod to another's port 80 (dropped SYNs give up after 2 s);
// resolves when the attempt is over.
function connect(from, to) {
  const p = spawn("ip", ["netns", "exec", podNs(from), "timeout", "2", "bash", "-c", `exec 3<>/dev/tcp/${podIp(to)}/80`], { stdio: "ignore" });
  return new Promise((ok) => p.once("exit", ok));
}

test("a denied probe is in the agent's live flow table within a second", { skip: !isRoot && !required && "needs root (lab namespaces)" }, async () => {
  assert.ok(isRoot, "PALISADE_ROOT_TESTS=require: this test needs root");
  agent = spawn("ip", ["netns", "exec", nodeNs, binary, "agent", "--source", `dir:${path.join(dir, "manifests")}`, "--node", "n1",
    "--flow-log", path.join(dir, "flows.jsonl"), "--log-allowed", "--ui", "127.0.0.1:8080"], { stdio: ["ignore", "ignore", "inherit"] });
  // Chromium in the node's namespace, where the UI listens.
  const wrapper = path.join(dir, "chromium-in-node");
  fs.writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec '${nodeNs}' ${process.env.CHROMIUM ?? "/usr/bin/chromium"} "$@"\n`, { mode: 0o755 });
  browser = await launch(wrapper);
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const deadline = Date.now() + 15000;
  for (;;) {
    try { await page.goto("http://127.0.0.1:8080/"); break; } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((ok) => setTimeout(ok, 200));
    }
  }
  await page.waitForSelector("body[data-ready=true]");
  // The agent's first applied state reaches the page: its two pods.
  await page.waitForFunction(() => /: 2 pods, 1 policies/.test(document.getElementById("input").textContent), null, { timeout: 15000 });
  assert.match(await page.textContent("#input"), /^the agent on node n1 \(dir:/);
  await page.click("#tab-live");
  await page.waitForFunction(() => document.getElementById("live-source").textContent.startsWith("Flows from the agent on node n1"));

  // x/a -> x/b: b is isolated for ingress and nothing admits a: denied, by default deny.
  const rowsOf = (kind) => page.$$eval(`#live-table tbody tr.flow-${kind}`, (trs) => trs.map((tr) => [...tr.cells].slice(1).map((c) => c.textContent).join(" ")));
  podIp("x/b");
  const t0 = Date.now();
  const probe = connect("x/a", "x/b");
  await page.waitForFunction(() => document.querySelector("#live-table tbody tr.flow-denied"), null, { timeout: 1000 });
  const took = Date.now() - t0;
  assert.ok(took <= 1000, `${took} ms`);
  assert.deepEqual((await rowsOf("denied"))[0], "denied x/a x/b 80/TCP default-deny");
  await probe;

  // x/b -> x/a: x/a is not isolated; logged as allowed (--log-allowed), and lit on the map.
  const allowed = connect("x/b", "x/a");
  await page.waitForFunction(() => document.querySelector("#live-table tbody tr.flow-allowed"), null, { timeout: 5000 });
  assert.deepEqual((await rowsOf("allowed"))[0], "allowed x/b x/a 80/TCP not isolated");
  await allowed;
  await page.screenshot({ path: path.join(shots, "live-agent.png"), fullPage: true });
  await page.click("#tab-map");
  const lit = await page.$$eval("#map-graph path.edge.lit", (ps) => ps.map((p) => `${p.dataset.from} ${p.dataset.to}`));
  // Pods without a workload are drawn by their labels: app=a, app=b.
  assert.deepEqual(lit, ["x/app=b x/app=a"]);
  const denied = await page.$$eval("#map-graph path.flow-denied-edge", (ps) => ps.map((p) => `${p.dataset.from} ${p.dataset.to}`));
  assert.deepEqual(denied, ["x/app=a x/app=b"]);
});
