/* diagnose_daemon.c — what tabby-node says about itself on its HTTP port (/status, see
 * node/status.c), asked once with a deadline (node_http.c). And the tabby-node check:
 * ready, degraded (and why), or not answering (and whether its process runs at all). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "tabby/cleanup.h"
#include "ctl.h"
#include "diagnose.h"

#define AREA "node"

void diag_daemon_ask(struct diag_daemon *d, const char *health, int timeout_ms)
{
    d->status = ctl_node_get(health, "/status", timeout_ms, d->error, sizeof(d->error));
    d->answered = d->status != NULL;
}

void diag_daemon_clear(struct diag_daemon *d)
{
    json_decref(d->status);
    *d = (struct diag_daemon){ 0 };
}

const json_t *diag_daemon_get(const struct diag_daemon *d, const char *path)
{
    const json_t *v = d->status;
    char key[64];

    while (v && *path) {
        size_t n = strcspn(path, ".");

        snprintf(key, sizeof(key), "%.*s", (int)n, path);
        v = json_object_get(v, key);
        path += n + (path[n] == '.');
    }
    return v;
}

const char *diag_daemon_str(const struct diag_daemon *d, const char *path)
{
    return json_string_value(diag_daemon_get(d, path));
}

/* ---- the check ---------------------------------------------------------------------------- */

static void not_answering(struct diag *d)
{
    char why[PATH_MAX + 64];
    long pid = ctl_node_process(d->set.pid_file, why, sizeof(why));
    struct diag_result *res;

    if (pid > 0 && ctl_process_stopped(pid)) {
        res = diag_add(&d->report, AREA, "tabby-node", DIAG_FAIL,
                       "tabby-node (pid %ld) is stopped: it does not answer on %s, and programs "
                       "and repairs nothing", pid, d->set.health);
        diag_action(res, "kill -CONT %ld (a debugger attached? a SIGSTOP sent by mistake?)",
                    pid);
    } else if (pid > 0) {
        res = diag_add(&d->report, AREA, "tabby-node", DIAG_FAIL,
                       "tabby-node runs (pid %ld) but does not answer on %s: %s", pid,
                       d->set.health, d->daemon.error);
        diag_action(res, "it is stuck, or its HTTP port is another (--health): its log says "
                    "what it did last; restarting it changes nothing programmed (fail-static)");
    } else {
        res = diag_add(&d->report, AREA, "tabby-node", DIAG_FAIL,
                       "tabby-node does not run (%s) or does not answer on %s: %s", why,
                       d->set.health, d->daemon.error);
        diag_action(res, "start tabby-node (its health port is TABBY_HEALTH_PORT; give "
                    "diagnose --health HOST:PORT and --node-pid-file PATH when they differ)");
    }
    diag_item(res, "tabby-node");
}

void diag_check_daemon(struct diag *d)
{
    const struct diag_daemon *dm = &d->daemon;
    const char *reason = diag_daemon_str(dm, "reason");
    const char *degraded = diag_daemon_str(dm, "degraded"), *theirs = diag_daemon_str(dm, "node");
    struct diag_result *res;

    if (!dm->answered) {
        not_answering(d);
        return;
    }
    if (theirs && strcmp(theirs, d->set.node) != 0) {
        res = diag_add(&d->report, AREA, "tabby-node", DIAG_FAIL,
                       "the tabby-node answering on %s is node %s's, not %s's", d->set.health,
                       theirs, d->set.node);
        diag_item(res, "tabby-node");
        diag_action(res, "run diagnose in %s's network namespace, or give --health the "
                    "address of its tabby-node", d->set.node);
        return;
    }
    if (!json_is_true(diag_daemon_get(dm, "ready"))) {
        res = diag_add(&d->report, AREA, "tabby-node", DIAG_FAIL, "tabby-node is not ready: %s",
                       reason ? reason : "(no reason given)");
        diag_item(res, "tabby-node");
        diag_action(res, "the reason names what is in the way first; the checks below and "
                    "tabby-node's log say more");
        return;
    }
    if (degraded && degraded[0]) {
        res = diag_add(&d->report, AREA, "tabby-node", DIAG_WARN,
                       "tabby-node is ready but works only in part: %s", degraded);
        diag_item(res, "tabby-node");
        diag_action(res, "see the check of that part below, and tabby-node's log");
        return;
    }
    diag_add(&d->report, AREA, "tabby-node", DIAG_OK, "tabby-node is ready (%s, backend %s)",
             d->set.health, d->set.backend);
}
