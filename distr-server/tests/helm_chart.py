"""The Helm chart of distr (packaging/helm/distr), linted and rendered with a
real Helm v4 (helm-python-sdk embeds it; no cluster, no helm binary):

  python helm_chart.py <chart dir>

Prints "ok" when every check holds; fails with the first that does not.
"""

import sys

import helm_python as helm
import yaml


def main(chart_dir):
    report = helm.lint(chart_dir, strict=True)
    assert not report["errors"], report
    assert all(m["severity"] < 2 for m in report["messages"]), report

    chart = helm.Chart.load(chart_dir)

    def objects(values):
        rendered = chart.render(values, name="reg", namespace="distr")
        found = {}
        for path, text in rendered.items():
            if path.endswith("NOTES.txt"):
                continue
            for doc in yaml.safe_load_all(text):
                if doc:
                    assert doc["kind"] not in found, f"two {doc['kind']}s"
                    found[doc["kind"]] = doc
        return found

    def container(deployment):
        pod = deployment["spec"]["template"]["spec"]
        (c,) = pod["containers"]
        return pod, c, {e["name"]: e.get("value") for e in c.get("env", [])}

    # The default: one replica, SQLite + local files on a claim.
    o = objects(None)
    assert set(o) == {"Deployment", "Service", "PersistentVolumeClaim"}, set(o)
    spec = o["Deployment"]["spec"]
    assert spec["replicas"] == 1 and spec["strategy"]["type"] == "Recreate", spec
    pod, c, env = container(o["Deployment"])
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz", c
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz", c
    assert env["DISTR_BLOB_STORE"] == "local" and env["DISTR_BOOTSTRAP_ORG"] == "acme", env
    assert env["DISTR_DATA_DIR"] == "/var/lib/distr", env
    assert "DATABASE_URL" not in env and "envFrom" not in c, c
    assert pod["securityContext"]["runAsNonRoot"] is True, pod
    assert pod["securityContext"]["runAsUser"] != 0, pod
    assert c["securityContext"]["readOnlyRootFilesystem"] is True, c
    volumes = {v["name"]: v for v in pod["volumes"]}
    claim = o["PersistentVolumeClaim"]["metadata"]["name"]
    assert volumes["data"]["persistentVolumeClaim"]["claimName"] == claim, volumes
    assert o["Service"]["spec"]["ports"][0]["targetPort"] == "http", o["Service"]

    # Scale-out: Postgres + S3, three replicas, secrets from a Secret only.
    o = objects(
        {
            "replicas": 3,
            "database": {"postgres": True},
            "blobStore": {"kind": "s3", "bucket": "distr-blobs", "s3Region": "eu-central-1"},
            "existingSecret": "distr-secrets",
            "publicUrl": "https://registry.example.com",
        }
    )
    assert set(o) == {"Deployment", "Service"}, set(o)
    spec = o["Deployment"]["spec"]
    assert spec["replicas"] == 3 and "strategy" not in spec, spec
    pod, c, env = container(o["Deployment"])
    assert c["envFrom"] == [{"secretRef": {"name": "distr-secrets"}}], c
    assert env["DISTR_BLOB_STORE"] == "s3" and env["DISTR_BLOB_BUCKET"] == "distr-blobs", env
    assert env["DISTR_PUBLIC_URL"] == "https://registry.example.com", env
    for name in env:
        assert not any(s in name for s in ("SECRET", "TOKEN", "DATABASE_URL", "PASSWORD")), name
    assert "emptyDir" in {v["name"]: v for v in pod["volumes"]}["data"], pod

    # Shapes that cannot work are refused with the reason.
    for values, reason in [
        ({"replicas": 2}, "replicas > 1 needs database.postgres"),
        ({"database": {"postgres": True}}, "needs existingSecret"),
        ({"blobStore": {"kind": "s3"}}, "needs blobStore.bucket"),
    ]:
        try:
            chart.render(values, name="reg", namespace="distr")
        except helm.HelmError as e:
            assert reason in str(e), (values, str(e))
        else:
            raise AssertionError(f"rendered {values}")
    print("ok")


if __name__ == "__main__":
    main(sys.argv[1])
