#!/usr/bin/env python3
"""Flow records for the advise benchmark: N lines of Palisade's flow-log shape over the pods
of a cluster file (`palisade synth` JSON, or any List of Pods with podIP). Each pod calls
the pods of the next three workloads of its namespace on their first declared port, and
DNS; about one in fifty records goes to an address outside the cluster; a tenth of the
records are denied. Deterministic (seeded).

usage: gen-flows.py CLUSTER.json RECORDS > flows.jsonl
"""
import json
import random
import sys

cluster, records = sys.argv[1], int(sys.argv[2])
doc = json.load(open(cluster))
items = doc["items"] if isinstance(doc, dict) else doc
pods = [o for o in items if o.get("kind") == "Pod" and o.get("status", {}).get("podIP")]
rng = random.Random(7)
by_ns = {}
for p in pods:
    by_ns.setdefault(p["metadata"]["namespace"], []).append(p)
dns = [p for p in pods if p["metadata"].get("labels", {}).get("k8s-app") == "kube-dns"]


def port_of(p):
    for c in p["spec"].get("containers", []):
        for port in c.get("ports", []):
            return port["containerPort"], port.get("protocol", "TCP")
    return 8080, "TCP"


# Each pod's destinations: up to three other pods of its namespace, and DNS.
edges = []
for ns, members in by_ns.items():
    for i, p in enumerate(members):
        for k in (1, 2, 3):
            if len(members) > k:
                edges.append((p, members[(i + k) % len(members)]))
        if dns:
            edges.append((p, dns[i % len(dns)]))
out = sys.stdout
t = 1714557600.0
for n in range(records):
    src, dst = edges[rng.randrange(len(edges))]
    verdict = "denied" if rng.random() < 0.1 else "allowed"
    s = f'{src["metadata"]["namespace"]}/{src["metadata"]["name"]}'
    if rng.random() < 0.02:
        ip = f"203.0.113.{rng.randrange(256)}"
        out.write(json.dumps({"time": t + n * 0.001, "src": s, "dst": ip, "src_ip": src["status"]["podIP"], "dst_ip": ip,
                              "protocol": "TCP", "port": 443, "verdict": verdict}) + "\n")
        continue
    port, proto = port_of(dst)
    out.write(json.dumps({"time": t + n * 0.001, "src": s, "dst": f'{dst["metadata"]["namespace"]}/{dst["metadata"]["name"]}',
                          "src_ip": src["status"]["podIP"], "dst_ip": dst["status"]["podIP"], "protocol": proto,
                          "port": port, "verdict": verdict}) + "\n")
