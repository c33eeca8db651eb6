#!/usr/bin/env python3
"""Push / pull a Helm-chart OCI artifact with oras-py (the `oras` package on PyPI).

Driven by distr-server/tests/oras_helm.rs. Prints exactly one JSON object on the
last line of stdout; oras' own logging goes to stderr. Authenticates with the
token in $DISTR_E2E_TOKEN (HTTP Basic, any user name) when it is set.

    oras_helm.py push --registry 127.0.0.1:5000 --ref acme/charts/web:0.1.0 \
        --chart /path/web-0.1.0.tgz --config /path/config.json [--chunked --chunk-size 1024]
    oras_helm.py pull --registry 127.0.0.1:5000 --ref acme/charts/web:0.1.0 --outdir /path/out
"""

import argparse
import json
import os
import sys

HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
HELM_CHART = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def client(registry):
    import oras.client

    token = os.environ.get("DISTR_E2E_TOKEN")
    # The "basic" backend answers a 401 by retrying with Basic credentials.
    # (oras-py's default "token" backend reads one realm out of all
    # WWW-Authenticate challenges joined together, and distr sends a Bearer
    # and a Basic challenge.) set_basic_auth is what OrasClient.login() does
    # first, without login()'s side effect of writing ~/.docker/config.json.
    c = oras.client.OrasClient(
        hostname=registry, insecure=True, auth_backend="basic" if token else "token"
    )
    if token:
        c.auth.set_basic_auth("anyone", token)
    # Never route 127.0.0.1 through an HTTP(S)_PROXY from the environment.
    c.session.trust_env = False
    return c


def push(args):
    c = client(args.registry)
    chart = os.path.abspath(args.chart)
    config = os.path.abspath(args.config)
    # oras-py validates that files are inside the working directory and uses
    # the basename as the layer title: run from the chart's directory.
    os.chdir(os.path.dirname(chart))
    resp = c.push(
        target=f"{args.registry}/{args.ref}",
        files=[f"{os.path.basename(chart)}:{HELM_CHART}"],
        manifest_config=f"{config}:{HELM_CONFIG}",
        do_chunked=args.chunked,
        chunk_size=args.chunk_size,
        quiet=True,
    )
    return {
        "status": resp.status_code,
        "digest": resp.headers.get("Docker-Content-Digest"),
        "location": resp.headers.get("Location"),
    }


def pull(args):
    c = client(args.registry)
    os.makedirs(args.outdir, exist_ok=True)
    files = c.pull(
        target=f"{args.registry}/{args.ref}",
        outdir=args.outdir,
        allowed_media_type=[OCI_MANIFEST],
    )
    return {"files": [os.path.abspath(f) for f in files]}


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    ps = sub.add_parser("push")
    ps.add_argument("--registry", required=True)
    ps.add_argument("--ref", required=True)
    ps.add_argument("--chart", required=True)
    ps.add_argument("--config", required=True)
    ps.add_argument("--chunked", action="store_true")
    ps.add_argument("--chunk-size", type=int, default=16 * 1024 * 1024)
    pl = sub.add_parser("pull")
    pl.add_argument("--registry", required=True)
    pl.add_argument("--ref", required=True)
    pl.add_argument("--outdir", required=True)
    args = p.parse_args()

    import oras

    result = push(args) if args.cmd == "push" else pull(args)
    result["oras_version"] = getattr(oras, "__version__", "unknown")
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
