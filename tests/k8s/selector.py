# selector.py — label selectors (=, ==, !=, in, notin, exists, !key, >, <) and field
# selectors (=, ==, !=) as the Kubernetes API takes them in ?labelSelector= and
# ?fieldSelector=. A selector is parsed once per request into a predicate over objects;
# a field a resource does not support is refused as the real server refuses it.

import re

from status import bad_request

_KEY = r"[A-Za-z0-9]([A-Za-z0-9._/-]*[A-Za-z0-9])?"
_VALUE = r"([A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?)?"
_RE_NOT = re.compile(rf"^!\s*({_KEY})$")
_RE_SET = re.compile(rf"^({_KEY})\s+(in|notin)\s*\((.*)\)$")
_RE_OP = re.compile(rf"^({_KEY})\s*(==|=|!=|>|<)\s*(.*)$")
_RE_EXISTS = re.compile(rf"^({_KEY})$")
_RE_VALUE = re.compile(rf"^{_VALUE}$")


def _split_top(text):
    """Split at commas outside parentheses."""
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return parts


def _check_value(sel, v):
    if len(v) > 63 or not _RE_VALUE.match(v):
        raise bad_request(f"unable to parse requirement: values[0][{sel}]: Invalid value: "
                          f'"{v}": a valid label must be an empty string or consist of '
                          "alphanumeric characters, '-', '_' or '.', and must start and end "
                          "with an alphanumeric character")
    return v


def parse_labels(text):
    """A predicate over a labels dict (None when the selector selects everything)."""
    if text is None or text.strip() == "":
        return None
    reqs = []
    for part in _split_top(text):
        p = part.strip()
        if not p:
            raise bad_request("unable to parse requirement: found '', expected: identifier")
        m = _RE_NOT.match(p)
        if m:
            k = m.group(1)
            reqs.append(lambda l, k=k: k not in l)
            continue
        m = _RE_SET.match(p)
        if m:
            k, op = m.group(1), m.group(3)
            vals = {_check_value(k, v.strip()) for v in m.group(4).split(",")}
            if op == "in":
                reqs.append(lambda l, k=k, vals=vals: l.get(k) in vals)
            else:
                reqs.append(lambda l, k=k, vals=vals: l.get(k) not in vals)
            continue
        m = _RE_OP.match(p)
        if m:
            k, op, v = m.group(1), m.group(3), m.group(4).strip()
            if op in ("=", "=="):
                v = _check_value(k, v)
                reqs.append(lambda l, k=k, v=v: l.get(k) == v)
            elif op == "!=":
                v = _check_value(k, v)
                reqs.append(lambda l, k=k, v=v: l.get(k) != v)
            else:
                try:
                    n = int(v)
                except ValueError:
                    raise bad_request("unable to parse requirement: for 'Gt', 'Lt' operators, "
                                      "the value must be an integer")
                sign = 1 if op == ">" else -1
                reqs.append(lambda l, k=k, n=n, s=sign: _compare(l.get(k), n) == s)
            continue
        m = _RE_EXISTS.match(p)
        if m:
            k = m.group(1)
            reqs.append(lambda l, k=k: k in l)
            continue
        raise bad_request(f"unable to parse requirement: <nil>: Invalid value: \"{p}\": "
                          "invalid label selector")
    return lambda labels: all(r(labels) for r in reqs)


def _compare(v, n):
    """1, 0 or -1 as the label value v is above, at or below n; None if not a number."""
    try:
        v = int(v)
    except (TypeError, ValueError):
        return None
    return (v > n) - (v < n)


def _unescape_field(v):
    out, i = [], 0
    while i < len(v):
        if v[i] == "\\" and i + 1 < len(v):
            out.append(v[i + 1])
            i += 2
        else:
            out.append(v[i])
            i += 1
    return "".join(out)


def _split_fields(text):
    parts, cur, i = [], [], 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text):
            cur.append(text[i:i + 2])
            i += 2
            continue
        if text[i] == ",":
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(text[i])
        i += 1
    parts.append("".join(cur))
    return parts


def field_value(obj, path):
    """The string a field selector compares for a dotted path (`spec.nodeName`)."""
    cur = obj
    for k in path.split("."):
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(k)
    if cur is None:
        return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)


def parse_fields(text, supported):
    """A predicate over an object; `supported` is the set of field paths the resource
    takes beyond metadata.name and metadata.namespace."""
    if text is None or text.strip() == "":
        return None
    reqs = []
    for part in _split_fields(text):
        p = part.strip()
        if not p:
            continue
        for op in ("!=", "==", "="):
            i = p.find(op)
            if i > 0:
                break
        else:
            raise bad_request(f"invalid selector: '{text}'; can't understand '{p}'")
        field, value = p[:i].strip(), _unescape_field(p[i + len(op):].strip())
        if field not in supported and field not in ("metadata.name", "metadata.namespace"):
            raise bad_request(f'field label not supported: {field}')
        if op == "!=":
            reqs.append(lambda o, f=field, v=value: field_value(o, f) != v)
        else:
            reqs.append(lambda o, f=field, v=value: field_value(o, f) == v)
    return lambda obj: all(r(obj) for r in reqs)
