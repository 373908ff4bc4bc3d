# auth.py — who a request comes from, as a kube-apiserver decides it:
#   - a bearer token from the static token file (kube-apiserver's --token-auth-file
#     format: token,user,uid,"group1,group2"), the admin token among them;
#   - a ServiceAccount token from TokenRequest (POST .../serviceaccounts/NAME/token):
#     a JWT signed here with HMAC-SHA256 (the real server signs with RSA; clients treat
#     tokens as opaque), with an expiry, valid while the ServiceAccount (same uid) exists;
#   - a client certificate signed by the server's CA: CN is the user, O the groups;
#   - impersonation headers (Impersonate-User, Impersonate-Group), allowed when the
#     authorizer allows the `impersonate` verb.
# Anything else is 401. /healthz, /livez and /readyz need no credentials.

import base64
import hashlib
import hmac
import json
import os
import secrets
import time

import status as st

AUDIENCE = "https://kubernetes.default.svc.cluster.local"
ISSUER = "https://kubernetes.default.svc.cluster.local"


class User:
    def __init__(self, name, uid="", groups=(), extra=None):
        self.name = name
        self.uid = uid
        groups = list(groups)
        if "system:authenticated" not in groups and name != "system:anonymous":
            groups.append("system:authenticated")
        self.groups = groups
        self.extra = extra or {}

    def info(self):
        d = {"username": self.name, "groups": self.groups}
        if self.uid:
            d["uid"] = self.uid
        if self.extra:
            d["extra"] = self.extra
        return d

    def is_master(self):
        return "system:masters" in self.groups


def read_token_file(path):
    """{token: User} from kube-apiserver's static token file format."""
    import csv
    out = {}
    with open(path, newline="") as f:
        for row in csv.reader(f):
            if not row or row[0].startswith("#"):
                continue
            if len(row) < 2:
                continue
            token, name = row[0].strip(), row[1].strip()
            uid = row[2].strip() if len(row) > 2 else ""
            groups = [g.strip() for g in row[3].split(",")] if len(row) > 3 and row[3] else []
            out[token] = User(name, uid, groups)
    return out


def _b64(data):
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Auth:
    def __init__(self, state_dir, tokens, store, min_token_seconds=600):
        self.tokens = dict(tokens)
        self.store = store
        self.min_token_seconds = min_token_seconds
        key_path = os.path.join(state_dir, "sa.key")
        if os.path.exists(key_path):
            with open(key_path, "rb") as f:
                self.key = f.read()
        else:
            self.key = secrets.token_bytes(32)
            with open(key_path, "wb") as f:
                f.write(self.key)
        self.kid = hashlib.sha256(self.key).hexdigest()[:16]

    # ---- authentication ------------------------------------------------------------
    def authenticate(self, headers, peer_cert):
        authz = headers.get("Authorization", "")
        if authz:
            scheme, _, token = authz.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise st.unauthorized()
            user = self.user_of_token(token.strip())
            if user is None:
                raise st.unauthorized()
            return user
        if peer_cert:
            return self.user_of_cert(peer_cert)
        raise st.unauthorized()

    def user_of_token(self, token, audiences=None):
        u = self.tokens.get(token)
        if u is not None:
            return u
        claims = self.verify_jwt(token, audiences)
        if claims is None:
            return None
        k = claims["kubernetes.io"]
        ns, sa = k["namespace"], k["serviceaccount"]
        cur = self.store.get("/serviceaccounts", (ns, sa["name"]))
        if cur is None or cur.obj["metadata"].get("uid") != sa["uid"]:
            return None
        extra = {}
        if k.get("pod"):
            extra["authentication.kubernetes.io/pod-name"] = [k["pod"]["name"]]
            extra["authentication.kubernetes.io/pod-uid"] = [k["pod"]["uid"]]
        return User(f"system:serviceaccount:{ns}:{sa['name']}", sa["uid"],
                    ["system:serviceaccounts", f"system:serviceaccounts:{ns}"], extra)

    def user_of_cert(self, cert):
        cn, orgs = None, []
        for rdn in cert.get("subject", ()):
            for k, v in rdn:
                if k == "commonName":
                    cn = v
                elif k == "organizationName":
                    orgs.append(v)
        if not cn:
            raise st.unauthorized()
        return User(cn, "", orgs)

    # ---- ServiceAccount tokens -----------------------------------------------------
    def mint(self, ns, sa_name, sa_uid, seconds, audiences, bound=None):
        now = int(time.time())
        claims = {"aud": audiences, "exp": now + seconds, "iat": now, "iss": ISSUER,
                  "jti": secrets.token_hex(8), "nbf": now,
                  "kubernetes.io": {"namespace": ns,
                                    "serviceaccount": {"name": sa_name, "uid": sa_uid}},
                  "sub": f"system:serviceaccount:{ns}:{sa_name}"}
        if bound and bound.get("kind") == "Pod":
            claims["kubernetes.io"]["pod"] = {"name": bound.get("name"), "uid": bound.get("uid")}
        head = _b64(json.dumps({"alg": "HS256", "kid": self.kid}).encode())
        body = _b64(json.dumps(claims, separators=(",", ":")).encode())
        sig = _b64(hmac.new(self.key, f"{head}.{body}".encode(), hashlib.sha256).digest())
        return f"{head}.{body}.{sig}", claims["exp"]

    def verify_jwt(self, token, audiences=None):
        parts = token.split(".")
        if len(parts) != 3:
            return None
        try:
            want = hmac.new(self.key, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
            if not hmac.compare_digest(want, _unb64(parts[2])):
                return None
            claims = json.loads(_unb64(parts[1]))
        except (ValueError, TypeError):
            return None
        if claims.get("exp", 0) <= time.time():
            return None
        accepted = set(audiences or [AUDIENCE])
        if not accepted & set(claims.get("aud") or []):
            return None
        return claims

    def token_request(self, sa_entry, body):
        spec = (body or {}).get("spec") or {}
        seconds = int(spec.get("expirationSeconds") or 3600)
        md = sa_entry.obj["metadata"]
        if seconds < self.min_token_seconds:
            raise st.invalid("TokenRequest", "authentication.k8s.io", md["name"], [
                ("FieldValueInvalid", "spec.expirationSeconds",
                 f"Invalid value: {seconds}: may not specify a duration less than "
                 f"{self.min_token_seconds} seconds")])
        auds = spec.get("audiences") or [AUDIENCE]
        token, exp = self.mint(md["namespace"], md["name"], md["uid"], seconds, auds,
                               spec.get("boundObjectRef"))
        return {"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
                "metadata": {"name": md["name"], "namespace": md["namespace"],
                             "creationTimestamp": None},
                "spec": {"audiences": auds, "expirationSeconds": seconds,
                         "boundObjectRef": spec.get("boundObjectRef")},
                "status": {"token": token,
                           "expirationTimestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                time.gmtime(exp))}}

    def token_review(self, body):
        spec = (body or {}).get("spec") or {}
        auds = spec.get("audiences")
        u = self.user_of_token(spec.get("token", ""), auds)
        out = {"kind": "TokenReview", "apiVersion": "authentication.k8s.io/v1",
               "metadata": {"creationTimestamp": None}, "spec": spec}
        if u is None:
            out["status"] = {"authenticated": False, "user": {},
                             "error": "[invalid bearer token, token lookup failed]"}
        else:
            out["status"] = {"authenticated": True, "user": u.info(),
                             "audiences": auds or [AUDIENCE]}
        return out

    # ---- impersonation -------------------------------------------------------------
    def impersonate(self, user, headers, authorize):
        """The user a request acts as; `authorize(user, attrs)` raises when refused."""
        name = headers.get("Impersonate-User")
        groups = headers.get_all("Impersonate-Group") or []
        if not name:
            if groups:
                raise st.bad_request("requested [Impersonate-Group] without impersonating a user")
            return user
        if name.startswith("system:serviceaccount:"):
            _, _, ns, sa = name.split(":", 3)
            authorize(user, {"verb": "impersonate", "api_group": "", "resource":
                             "serviceaccounts", "namespace": ns, "name": sa})
            groups = groups or ["system:serviceaccounts", f"system:serviceaccounts:{ns}"]
        else:
            authorize(user, {"verb": "impersonate", "api_group": "", "resource": "users",
                             "namespace": "", "name": name})
        for g in groups:
            authorize(user, {"verb": "impersonate", "api_group": "", "resource": "groups",
                             "namespace": "", "name": g})
        return User(name, headers.get("Impersonate-Uid", ""), groups)
