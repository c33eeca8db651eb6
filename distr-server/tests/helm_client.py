"""Helm v4 as a registry client (helm-python-sdk: Helm's Go SDK, no binary),
driven by clients_e2e.rs against a real distr-server:

  python helm_client.py vendor   HOST TOKEN WORKDIR   # create, package, push web 0.1.0 and 0.2.0
  python helm_client.py customer HOST TOKEN WORKDIR   # pull what is entitled, be refused the rest

Prints "ok" when every check holds; fails with the first that does not.
"""

import os
import re
import sys

import helm_python as helm


def client(host, user, token, workdir):
    c = helm.RegistryClient(plain_http=True, credentials_file=os.path.join(workdir, f"{user}.json"))
    c.login(host, user, token, plain_http=True)
    return c


def vendor(host, token, workdir):
    helm.Chart.create("web", workdir)
    chart = os.path.join(workdir, "web")
    archives = [helm.package(chart, destination=workdir)]
    meta = os.path.join(chart, "Chart.yaml")
    with open(meta) as f:
        text = f.read()
    with open(meta, "w") as f:
        f.write(re.sub(r"(?m)^version: .*$", "version: 0.2.0", text))
    archives.append(helm.package(chart, destination=workdir))
    c = client(host, "vendor", token, workdir)
    for archive in archives:
        c.push(archive, f"oci://{host}/acme/charts", plain_http=True)
    tags = c.tags(f"oci://{host}/acme/charts/web")
    assert tags == ["0.2.0", "0.1.0"], tags


def refused(what, call, *needles):
    try:
        call()
    except helm.HelmError as e:
        message = str(e)
        assert any(n in message for n in needles), (what, message)
        assert "401" not in message, (what, message)
        return message
    raise AssertionError(f"{what} succeeded")


def customer(host, token, workdir):
    c = client(host, "customer", token, workdir)
    out = os.path.join(workdir, "pulled")
    os.makedirs(out, exist_ok=True)
    c.pull(f"oci://{host}/acme/charts/web", version="0.1.0", destination=out, plain_http=True)
    assert os.listdir(out) == ["web-0.1.0.tgz"], os.listdir(out)
    chart = helm.Chart.load(os.path.join(out, "web-0.1.0.tgz"))
    assert (chart.name, chart.version) == ("web", "0.1.0"), chart.metadata
    assert c.tags(f"oci://{host}/acme/charts/web") == ["0.1.0"]
    refused(
        "pull of 0.2.0",
        lambda: c.pull(f"oci://{host}/acme/charts/web", version="0.2.0", destination=out, plain_http=True),
        "403: denied: not entitled to tag 0.2.0",
    )
    refused(
        "push",
        lambda: c.push(os.path.join(workdir, "web-0.2.0.tgz"), f"oci://{host}/acme/charts", plain_http=True),
        "403",
    )
    refused(
        "another vendor's chart",
        lambda: c.tags(f"oci://{host}/globex/charts/web"),
        "404: name unknown",
    )


if __name__ == "__main__":
    mode, host, token, workdir = sys.argv[1:5]
    {"vendor": vendor, "customer": customer}[mode](host, token, workdir)
    print("ok")
