"""Creates the Secret the app mounts, with random passwords, when it does not exist yet;
never changes one that does (PostgreSQL keeps the password its volume was made with).

Standard library only, so it runs on the stock python image: the in-cluster API over HTTPS
with the pod's service account token and the cluster's CA. Never prints a value."""

from __future__ import annotations

import base64
import json
import os
import secrets
import ssl
import sys
import time
import urllib.error
import urllib.request

ACCOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
# The one Secret its Role may read (rbac.yaml); the keys the pods mount.
NAME = "conveyor-secrets"
KEYS = ["postgres-password", "redis-password"]
# Long enough for the network policy to be programmed and a restarting API server.
RETRY_SECONDS = float(os.environ.get("RETRY_SECONDS", "120"))


def call(method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    host, port = os.environ["KUBERNETES_SERVICE_HOST"], os.environ["KUBERNETES_SERVICE_PORT"]
    if ":" in host:
        host = f"[{host}]"
    with open(f"{ACCOUNT}/token") as f:  # read each time: the projected token is rotated
        token = f.read().strip()
    request = urllib.request.Request(
        f"https://{host}:{port}{path}",
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    context = ssl.create_default_context(cafile=f"{ACCOUNT}/ca.crt")
    # Python 3.13's strict X.509 checks refuse CAs without a keyUsage extension, which some
    # clusters' generated CAs lack; the chain and the host name are still verified.
    context.verify_flags &= ~ssl.VERIFY_X509_STRICT
    deadline = time.monotonic() + RETRY_SECONDS
    while True:
        try:
            # The URL is always https:// to the API server built above.
            with urllib.request.urlopen(request, context=context, timeout=10) as response:  # noqa: S310
                return response.status, json.load(response)
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")
        except OSError as exc:
            # A certificate that does not verify will not verify on the next try either.
            if time.monotonic() > deadline or isinstance(
                getattr(exc, "reason", exc), ssl.SSLCertVerificationError
            ):
                raise
            print(f"API server not reachable yet ({exc}); retrying", flush=True)
            time.sleep(2)


def main() -> int:
    with open(f"{ACCOUNT}/namespace") as f:
        namespace = f.read().strip()
    path = f"/api/v1/namespaces/{namespace}/secrets"
    status, found = call("GET", f"{path}/{NAME}")
    if status == 200:
        missing = [k for k in KEYS if k not in (found.get("data") or {})]
        if missing:
            print(f"Secret {NAME} exists without {', '.join(missing)}: add them by hand", file=sys.stderr)
            return 1
        print(f"Secret {NAME} exists (created {found['metadata']['creationTimestamp']}): left as it is")
        return 0
    if status != 404:
        print(f"GET secret {NAME}: HTTP {status}: {found.get('message')}", file=sys.stderr)
        return 1
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": NAME,
            "labels": {
                "app.kubernetes.io/name": "conveyor",
                "app.kubernetes.io/component": "secrets",
                "app.kubernetes.io/part-of": "conveyor",
                "app.kubernetes.io/managed-by": "secret-bootstrap",
            },
        },
        # 24 random bytes, hex: no character that needs quoting in a URL or a config file.
        "data": {k: base64.b64encode(secrets.token_hex(24).encode()).decode() for k in KEYS},
    }
    status, created = call("POST", path, secret)
    if status == 201:
        print(f"Secret {NAME} created with new random {', '.join(KEYS)}")
        return 0
    if status == 409:
        print(f"Secret {NAME} was created meanwhile (another run): left as it is")
        return 0
    print(f"POST secret {NAME}: HTTP {status}: {created.get('message')}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
