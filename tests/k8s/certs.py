# certs.py — the test cluster's PKI, made with the openssl CLI into the state folder: a
# CA (ca.crt, ca.key), the server's certificate (server.crt, server.key; SANs: the
# listen address, 127.0.0.1, localhost, the in-cluster names and 10.96.0.1, plus
# --san values), and an admin client certificate (admin.crt, admin.key: CN=admin,
# O=system:masters). A restart with the same folder keeps the CA (clients keep trusting
# the server) and remakes the server certificate only when its SANs change. Also the
# kubeconfig that points kubectl and the client libraries at the server.

import base64
import ipaddress
import os
import subprocess


def _openssl(*args):
    r = subprocess.run(["openssl", *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"openssl {args[0]} failed: {r.stderr.strip()}")


def _is_ip(text):
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False


def _new_key(path):
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-out", path)
    os.chmod(path, 0o600)


def _sign(d, name, subject, ext):
    key, csr, crt = (os.path.join(d, f"{name}.{x}") for x in ("key", "csr", "crt"))
    extfile = os.path.join(d, f"{name}.ext")
    _new_key(key)
    _openssl("req", "-new", "-key", key, "-subj", subject, "-out", csr)
    with open(extfile, "w") as f:
        f.write(ext)
    _openssl("x509", "-req", "-in", csr, "-CA", os.path.join(d, "ca.crt"), "-CAkey",
             os.path.join(d, "ca.key"), "-CAcreateserial", "-days", "3650", "-sha256",
             "-extfile", extfile, "-out", crt)
    os.unlink(csr)
    os.unlink(extfile)


def ensure(d, hosts):
    """Make (or keep) the CA, the server certificate for `hosts`, the admin certificate."""
    ca_crt, ca_key = os.path.join(d, "ca.crt"), os.path.join(d, "ca.key")
    if not (os.path.exists(ca_crt) and os.path.exists(ca_key)):
        _new_key(ca_key)
        _openssl("req", "-x509", "-new", "-key", ca_key, "-subj", "/CN=tabby-test-ca",
                 "-days", "3650", "-sha256", "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", ca_crt)
        for stale in ("server.crt", "admin.crt"):
            if os.path.exists(os.path.join(d, stale)):
                os.unlink(os.path.join(d, stale))
    names = ["127.0.0.1", "localhost", "kubernetes", "kubernetes.default",
             "kubernetes.default.svc", "kubernetes.default.svc.cluster.local", "10.96.0.1"]
    for h in hosts:
        if h and h not in names and h not in ("0.0.0.0", "::"):
            names.append(h)
    san = ",".join(("IP:" if _is_ip(n) else "DNS:") + n for n in names)
    sans_file = os.path.join(d, "server.sans")
    old = open(sans_file).read() if os.path.exists(sans_file) else None
    if old != san or not os.path.exists(os.path.join(d, "server.crt")):
        _sign(d, "server", "/CN=kube-apiserver",
              f"subjectAltName={san}\nbasicConstraints=CA:FALSE\n"
              "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n")
        with open(sans_file, "w") as f:
            f.write(san)
    if not os.path.exists(os.path.join(d, "admin.crt")):
        _sign(d, "admin", "/O=system:masters/CN=admin",
              "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
              "extendedKeyUsage=clientAuth\n")


def write_kubeconfig(path, server, ca_path, token):
    with open(ca_path, "rb") as f:
        ca = base64.b64encode(f.read()).decode()
    text = f"""apiVersion: v1
kind: Config
clusters:
- name: tabby-test
  cluster:
    server: {server}
    certificate-authority-data: {ca}
contexts:
- name: tabby-test
  context:
    cluster: tabby-test
    user: admin
    namespace: default
current-context: tabby-test
users:
- name: admin
  user:
    token: {token}
"""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
