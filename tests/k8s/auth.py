# auth.py — who a request comes from, as a kube-apiserver decides it:
#   - a bearer token from the static token file (kube-apiserver's --token-auth-file
#     format: token,user,uid,"group1,group2"), the admin token among them;
#   - a client certificate signed by the server's CA: CN is the user, O the groups.
# Anything else is 401. /healthz, /livez and /readyz need no credentials.

import status as st


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


class Auth:
    def __init__(self, tokens):
        self.tokens = dict(tokens)

    def authenticate(self, headers, peer_cert):
        authz = headers.get("Authorization", "")
        if authz:
            scheme, _, token = authz.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise st.unauthorized()
            user = self.tokens.get(token.strip())
            if user is None:
                raise st.unauthorized()
            return user
        if peer_cert:
            return self.user_of_cert(peer_cert)
        raise st.unauthorized()

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
