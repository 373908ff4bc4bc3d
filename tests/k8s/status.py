# status.py — errors of the test Kubernetes API server, as the Status objects (kind
# Status, apiVersion v1) a real kube-apiserver answers with: the same HTTP code, reason,
# message wording and details, so that clients (kubectl, client-go, the Python client,
# tabby's C client) take the same paths they take against a real cluster.
#
# Every failure inside the server is raised as ApiError; the HTTP layer turns it into
# the response (or, on an open watch, into an ERROR event).


class ApiError(Exception):
    """A failure answered as a Status object. `headers` are extra HTTP headers."""

    def __init__(self, code, reason, message, details=None, headers=None, list_meta=None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.headers = headers or {}
        self.list_meta = list_meta

    def status(self):
        s = {"kind": "Status", "apiVersion": "v1", "metadata": dict(self.list_meta or {}),
             "status": "Failure", "message": self.message}
        if self.reason:
            s["reason"] = self.reason
        if self.details:
            s["details"] = {k: v for k, v in self.details.items() if v not in ("", None, [], 0)}
        s["code"] = self.code
        return s


def qualified(resource, group):
    """The resource as errors name it: `pods`, `networkpolicies.networking.k8s.io`."""
    return f"{resource}.{group}" if group else resource


def _details(resource, group, name=None, **more):
    d = {"name": name, "group": group, "kind": resource}
    d.update(more)
    return d


def not_found(resource, group, name):
    return ApiError(404, "NotFound", f'{qualified(resource, group)} "{name}" not found',
                    _details(resource, group, name))


def already_exists(resource, group, name):
    return ApiError(409, "AlreadyExists", f'{qualified(resource, group)} "{name}" already exists',
                    _details(resource, group, name))


def conflict(resource, group, name, why):
    what = f'{qualified(resource, group)} "{name}"'
    return ApiError(409, "Conflict", f"Operation cannot be fulfilled on {what}: {why}",
                    _details(resource, group, name))


MODIFIED = "the object has been modified; please apply your changes to the latest version " \
    "and try again"


def stale(resource, group, name):
    return conflict(resource, group, name, MODIFIED)


def invalid(kind, group, name, causes):
    """causes: list of (type, field, message) as field.Error gives them, e.g.
    ("FieldValueRequired", "metadata.name", "Required value: name or generateName is
    required")."""
    gk = f"{kind}.{group}" if group else kind
    msgs = [f"{f}: {m}" for _, f, m in causes]
    text = msgs[0] if len(msgs) == 1 else "[" + ", ".join(msgs) + "]"
    return ApiError(422, "Invalid", f'{gk} "{name}" is invalid: {text}',
                    {"name": name, "group": group, "kind": kind,
                     "causes": [{"reason": t, "message": m, "field": f} for t, f, m in causes]})


def bad_request(message):
    return ApiError(400, "BadRequest", message)


def expired(message):
    return ApiError(410, "Expired", message)


def unauthorized():
    return ApiError(401, "Unauthorized", "Unauthorized")


def forbidden(resource, group, name, why):
    if not resource:
        message = f"forbidden: {why}"
    elif not name:
        message = f"{qualified(resource, group)} is forbidden: {why}"
    else:
        message = f'{qualified(resource, group)} "{name}" is forbidden: {why}'
    return ApiError(403, "Forbidden", message, _details(resource, group, name))


def method_not_supported(resource, group, action):
    kind = qualified(resource, group)
    return ApiError(405, "MethodNotAllowed",
                    f'{action} is not supported on resources of kind "{kind}"',
                    _details(resource, group))


def too_many_requests(retry_after, message="Too many requests, please try again later."):
    return ApiError(429, "TooManyRequests", message, {"retryAfterSeconds": retry_after},
                    {"Retry-After": str(retry_after)})


def internal(why):
    return ApiError(500, "InternalError", f"Internal error occurred: {why}",
                    {"causes": [{"message": why}]})


def unavailable(why):
    return ApiError(503, "ServiceUnavailable", why)


def timeout(message, retry_after=0, causes=None):
    return ApiError(504, "Timeout", f"Timeout: {message}",
                    {"retryAfterSeconds": retry_after, "causes": causes})


def not_found_path():
    """A URL that names no API: the real server answers a bare 404 Status."""
    return ApiError(404, "NotFound", "the server could not find the requested resource",
                    {"causes": [{"reason": "UnexpectedServerResponse",
                                 "message": "404 page not found"}]})


# Messages the real server gives for reads from compacted history.
LIST_EXPIRED = "The resourceVersion for the provided list is too old."
CONTINUE_EXPIRED = ("The provided continue parameter is too old to display a consistent list "
                    "result. You can start a new list without the continue parameter.")
CONTINUE_INCONSISTENT = (
    "The provided continue parameter is too old to display a consistent list result. You can "
    "start a new list without the continue parameter, or use the continue token in this "
    "response to retrieve the remainder of the results. Continuing with the provided token "
    "results in an inconsistent list - objects that were created, modified, or deleted between "
    "the time the first chunk was returned and now may show up in the list.")


def watch_too_old(rv, compacted):
    return expired(f"too old resource version: {rv} ({compacted})")


def by_code(code, message=None, retry_after=None):
    """A Status for a fault injected by code: what the real server sends for it."""
    if code == 429:
        return too_many_requests(retry_after or 1, message or
                                 "Too many requests, please try again later.")
    if code == 410:
        return expired(message or LIST_EXPIRED)
    if code == 500:
        return internal(message or "injected fault")
    if code == 503:
        e = unavailable(message or "the server is currently unable to handle the request")
        if retry_after:
            e.headers["Retry-After"] = str(retry_after)
            e.details = {"retryAfterSeconds": retry_after}
        return e
    if code == 504:
        return timeout(message or "request did not complete within the allotted timeout")
    if code == 409:
        return ApiError(409, "Conflict", message or "injected conflict")
    if code == 404:
        return ApiError(404, "NotFound", message or "injected not found")
    if code == 401:
        return unauthorized()
    if code == 403:
        return ApiError(403, "Forbidden", message or "forbidden: injected fault")
    return ApiError(code, "", message or f"injected fault {code}")
