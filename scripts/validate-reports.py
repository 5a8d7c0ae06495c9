#!/usr/bin/env python3
"""Validates palisade's machine outputs against their published schemas.

- SARIF 2.1.0 (`palisade lint -o sarif`) with `jsonschema` (PyPI) against the OASIS SARIF
  2.1.0 JSON schema, as shipped in the serde-sarif crate on crates.io.
- JUnit XML (`palisade test --junit`) with `xmlschema` (PyPI) against junit-10.xsd (the
  Maven Surefire schema), as shipped in pytest's source distribution on PyPI.

Usage: validate-reports.py PALISADE_BINARY CACHE_DIR
"""
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import urllib.request

SARIF = ("https://static.crates.io/crates/serde-sarif/serde-sarif-0.8.0.crate",
         "a053c46f18a8043570d4e32fefc4c6377f82bf29ec310a33e93f273048e3b0be",
         "serde-sarif-0.8.0/src/schema.json")


def fetch(url, sha256, member, cache):
    path = os.path.join(cache, os.path.basename(member))
    if os.path.exists(path):
        return path
    data = urllib.request.urlopen(url, timeout=60).read()
    if hashlib.sha256(data).hexdigest() != sha256:
        sys.exit(f"checksum mismatch for {url}")
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        with open(path, "wb") as out:
            out.write(t.extractfile(member).read())
    return path


def junit_xsd(cache):
    path = os.path.join(cache, "junit-10.xsd")
    if os.path.exists(path):
        return path
    with tempfile.TemporaryDirectory() as d:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
                        "pytest==8.3.3", "-d", d], check=True)
        sdist = os.path.join(d, "pytest-8.3.3.tar.gz")
        with open(sdist, "rb") as f:
            if hashlib.sha256(f.read()).hexdigest() != "70b98107bd648308a7952b06e6ca9a50bc660be218d53c257cc1fc94fda10181":
                sys.exit("checksum mismatch for the pytest sdist")
        with tarfile.open(sdist) as t, open(path, "wb") as out:
            out.write(t.extractfile("pytest-8.3.3/testing/example_scripts/junit-10.xsd").read())
    return path


def run(binary, *args):
    r = subprocess.run([binary, *args], capture_output=True, text=True)
    if r.returncode not in (0, 1):
        sys.exit(f"palisade {' '.join(args)} failed ({r.returncode}): {r.stderr}")
    return r.stdout


def main():
    binary, cache = sys.argv[1], sys.argv[2]
    os.makedirs(cache, exist_ok=True)
    import jsonschema
    import xmlschema

    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    shop = os.path.join(root, "examples", "shop")
    with tempfile.TemporaryDirectory() as d:
        # Findings of every level, with and without positions, and an invalid manifest.
        bad = os.path.join(d, "bad.yaml")
        with open(bad, "w") as f:
            f.write("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: x}\n"
                    "spec:\n  podSelector: {}\n  ingress:\n  - ports:\n    - port: http\n      endPort: 90\n")
        sarifs = [run(binary, "lint", shop, "-o", "sarif"),
                  run(binary, "lint", os.path.join(root, "examples", "seeds"), "-o", "sarif"),
                  run(binary, "lint", bad, "-o", "sarif")]
        schema = json.load(open(fetch(*SARIF, cache)))
        validator = jsonschema.Draft7Validator(schema)
        for i, s in enumerate(sarifs):
            doc = json.loads(s)
            errors = sorted(validator.iter_errors(doc), key=str)
            if errors:
                sys.exit(f"SARIF output {i} is not valid SARIF 2.1.0: {errors[0]}")
        results = sum(len(json.loads(s)["runs"][0]["results"]) for s in sarifs)
        if results == 0:
            sys.exit("no SARIF results to validate")
        # JUnit: a passing suite and a failing one.
        spec = os.path.join(d, "spec.yaml")
        with open(spec, "w") as f:
            f.write("- {from: {namespace: shop, pod: {app: frontend}}, to: {namespace: shop, pod: {app: database}},"
                    " port: 5432, expect: allow}\n- {from: {namespace: shop, pod: {app: nosuch}}, to: {ip: 1.2.3.4},"
                    " port: 80, expect: deny}\n")
        xsd = xmlschema.XMLSchema(junit_xsd(cache))
        for s in [os.path.join(root, "examples", "shop.test.yaml"), spec]:
            out = os.path.join(d, "junit.xml")
            run(binary, "test", s, shop, "--junit", out)
            xsd.validate(out)
    print(f"validate-reports: {len(sarifs)} SARIF logs ({results} results) and 2 JUnit reports are valid")


if __name__ == "__main__":
    main()
