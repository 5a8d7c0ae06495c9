#!/usr/bin/env python3
"""`palisade ui`'s API against its OpenAPI description: starts the server on the shop,
asks every path of the spec (with the queries below), and validates each answer against
the schema the spec gives for its status code. A path of the spec without a request here
fails the check, so the spec and this list cannot drift apart.

usage: validate-openapi.py PALISADE_BINARY SHOP_DIR SPEC
"""
import json
import os
import subprocess
import tempfile
import sys
import urllib.error
import urllib.request

import jsonschema
import yaml

binary, shop, spec_path = sys.argv[1:4]
spec = yaml.safe_load(open(spec_path))

# Requests per path: (query, expected status).
REQUESTS = {
    "/api/overview": [("", 200)],
    "/api/status": [("", 200)],
    "/api/map": [("", 200), ("?namespace=shop", 200), ("?cross_namespace=true", 200), ("?expand=", 200), ("?expand=shop", 200),
                 ("?port=53/UDP", 200), ("?protocol=SCTP", 200), ("?labels=app%3Ddatabase", 200), ("?pairs=denied", 200),
                 ("?pairs=half-open&port=5432", 200), ("?pairs=half-open", 400), ("?port=http", 400)],
    "/api/matrix": [("", 200)],
    "/api/matrix/workloads": [("?from=shop&to=shop", 200), ("?from=monitoring&to=shop", 200), ("?from=nowhere&to=shop", 400), ("?from=shop", 400)],
    "/api/coverage": [("", 200)],
    "/api/policies": [("", 200)],
    "/api/policy": [("?kind=NetworkPolicy&namespace=shop&name=database-ingress", 200), ("?kind=NetworkPolicy&namespace=shop&name=nope", 404), ("?name=x", 400)],
    # The main server compares the shop with itself (--old): an empty change.
    "/api/change": [("", 200)],
    "/api/explain": [
        ("?from=shop/frontend&to=shop/database&port=5432", 200),
        ("?from=monitoring/prometheus&to=shop/backend&port=9090/TCP", 200),
        ("?from=shop/nope&to=shop/database&port=5432", 400),
        ("?from=shop/frontend", 400),
    ],
    # The main server follows a flow log with an allowed, a denied and an unreadable line.
    "/api/flows": [("", 200), ("?verdict=denied&after=0", 200), ("?after=2&wait=0", 200), ("?verdict=maybe", 400)],
}
missing = set(spec["paths"]) - set(REQUESTS) - {"/api/openapi.yaml"}
if missing:
    sys.exit(f"validate-openapi: no request for {sorted(missing)}")

def start(*args):
    server = subprocess.Popen([binary, "ui", shop, "--listen", "127.0.0.1:0", *args], stdout=subprocess.PIPE, text=True)
    return server, server.stdout.readline().strip().removeprefix("palisade ui: ").rstrip("/")


flows = tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False)
flows.write("\n".join([
    json.dumps({"time": 1.5, "src": "shop/frontend", "dst": "shop/backend", "src_ip": "10.0.0.1", "dst_ip": "10.0.0.2",
                "protocol": "TCP", "port": 8080, "verdict": "allowed", "ingress": {"direction": "ingress", "policy": "shop/backend-ingress", "rule": 0},
                "egress": {"direction": "egress", "policy": "shop/frontend-to-backend", "rule": 0}}),
    json.dumps({"time": 2.5, "src": "shop/frontend", "dst": "8.8.8.8", "src_ip": "10.0.0.1", "dst_ip": "8.8.8.8",
                "protocol": "UDP", "port": 53, "verdict": "denied", "direction": "egress", "policy": "default-deny", "isolated_by": ["shop/default-deny-all"]}),
    "not a flow",
]) + "\n")
flows.close()
server, base = start("--old", shop, "--flows", flows.name)
plain, plain_base = start()
# Without --old or --git there is no change to show: 404.
REQUESTS_PLAIN = {"/api/change": [("", 404)], "/api/flows": [("", 404)]}
try:
    checked = 0
    asks = [(p, q, e, base) for p, rs in REQUESTS.items() for q, e in rs]
    asks += [(p, q, e, plain_base) for p, rs in REQUESTS_PLAIN.items() for q, e in rs]
    for path, query, expected, at in asks:
        try:
            with urllib.request.urlopen(at + path + query) as r:
                status, body = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, body = e.code, e.read()
        if status != expected:
            sys.exit(f"validate-openapi: {path}{query}: status {status}, expected {expected}")
        response = spec["paths"][path]["get"]["responses"][str(status)]
        schema = response["content"]["application/json"]["schema"]
        validator = jsonschema.Draft202012Validator({**schema, "components": spec["components"]})
        errors = list(validator.iter_errors(json.loads(body)))
        if errors:
            sys.exit(f"validate-openapi: {path}{query}: {errors[0].message} at {list(errors[0].path)}")
        checked += 1
    print(f"validate-openapi: {checked} answers of {len(REQUESTS)} paths follow {spec_path}")
finally:
    server.kill()
    plain.kill()
    os.unlink(flows.name)
