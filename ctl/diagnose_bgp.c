/* diagnose_bgp.c — BIRD, under backend bird: every BGP session tabby configured is
 * Established (the others are named, with the node behind the address and what BIRD says
 * of it), and BIRD's configuration file is what tabby renders for this node from the
 * datastore (the same gather and render tabby-node runs), so that a file edited by hand,
 * or a configuration BIRD refused, shows. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/bgp.h"
#include "tabby/bird.h"
#include "tabby/buf.h"
#include "tabby/cleanup.h"
#include "diagnose.h"

#define AREA "routing"
/* The longest line of the file quoted when it differs. */
#define QUOTE 160

static bool bird_backend(struct diag *d, const char *check)
{
    if (strcmp(d->set.backend, "bird") == 0)
        return true;
    diag_add(&d->report, AREA, check, DIAG_OK, "not used: backend %s (no BIRD on this node)",
             d->set.backend);
    return false;
}

static void bird_down(struct diag *d, const char *check, const struct tby_error *err)
{
    struct diag_result *res = diag_add(&d->report, AREA, check, DIAG_FAIL,
                                       "BIRD does not answer on %s: %s", d->set.bird_socket,
                                       tby_error_str(err));

    diag_item(res, "bird");
    diag_action(res, "start BIRD (bird -c %s -s %s); tabby-node loads its configuration "
                "when it answers", d->set.bird_config, d->set.bird_socket);
}

/* The sessions tabby made: protocols named as tabby names them. */
static bool ours(const struct tby_bird_protocol *p)
{
    return strcmp(p->proto, "BGP") == 0 && tby_bgp_peer_type_of_protocol(p->name) >= 0;
}

/* BIRD pads its info column: "Passive       Received: …" reads better with one space. */
static const char *squeezed(const char *text, char *buf, size_t size)
{
    size_t n = 0;

    for (; *text && n + 1 < size; text++)
        if (*text != ' ' || (n && buf[n - 1] != ' '))
            buf[n++] = *text;
    buf[n] = '\0';
    return buf;
}

static void sessions(struct diag *d, const struct tby_bird_protocols *list)
{
    struct diag_result *res = NULL;
    size_t n = 0;

    for (size_t i = 0; i < list->n; i++) {
        const struct tby_bird_protocol *p = &list->items[i];
        char ip[TBY_IP_STRLEN] = "?", info[256];
        const char *node = NULL;

        if (!ours(p))
            continue;
        n++;
        if (strncmp(p->info, "Established", 11) == 0)
            continue;
        if (p->has_neighbor) {
            tby_ip_format(&p->neighbor, ip);
            node = d->cluster.read ? diag_cluster_node_of_ip(&d->cluster, &p->neighbor) : NULL;
        }
        if (!res)
            res = diag_add(&d->report, AREA, "bgp-sessions", DIAG_FAIL,
                           "BGP sessions not Established: no routes are learned from them");
        diag_detail(res, "%s (%s%s%s%s): %s since %s: %s", ip, node ? "node " : "",
                    node ? node : "", node ? ", " : "",
                    tby_bgp_peer_type_name(tby_bgp_peer_type_of_protocol(p->name)), p->state,
                    p->since, squeezed(p->info, info, sizeof(info)));
        diag_item(res, "%s", ip);
    }
    if (res) {
        diag_action(res, "on each peer named: is BIRD running (tabbyctl node status there), "
                    "is TCP 179 reachable from here; BIRD's reason is after the state");
        return;
    }
    diag_add(&d->report, AREA, "bgp-sessions", DIAG_OK, "%zu BGP session%s, all Established", n,
             n == 1 ? "" : "s");
}

void diag_check_bgp_sessions(struct diag *d)
{
    _cleanup_(tby_bird_freep) struct tby_bird *bird = NULL;
    struct tby_bird_protocols list = { 0 };
    struct tby_error err = { 0 };

    if (!bird_backend(d, "bgp-sessions"))
        return;
    if (tby_bird_new(d->set.bird_socket, &bird, &err) == 0)
        tby_bird_set_timeout(bird, d->set.timeout_ms);
    if (!bird || tby_bird_show_protocols(bird, &list, &err) < 0) {
        bird_down(d, "bgp-sessions", &err);
        return;
    }
    sessions(d, &list);
    tby_bird_protocols_clear(&list);
}

/* ---- the configuration ------------------------------------------------------------------- */

static int render(struct diag *d, char **text, struct tby_error *err)
{
    struct tby_bgp_input in = { 0 };
    size_t len;
    int r = tby_bgp_gather_from_store(d->store, d->set.node, NULL, 0, tby_bgp_secret_from_dir,
                                      (void *)d->set.secrets_dir, &in, err);

    if (r == 0)
        r = tby_bgp_render(&in, text, &len, err);
    tby_bgp_input_clear(&in);
    return r;
}

static size_t lines(const char *text)
{
    size_t n = 0;

    for (; *text; text++)
        n += *text == '\n';
    return n;
}

static void config_differs(struct diag *d, size_t line, const char *have, const char *want,
                           size_t have_lines, size_t want_lines)
{
    const char *error = diag_daemon_str(&d->daemon, "parts.bgp.last_error");
    struct diag_result *res = diag_add(&d->report, AREA, "bird-config", DIAG_FAIL,
                                       "%s is not what tabby renders for %s from the datastore: "
                                       "BIRD may run other sessions or announce other routes",
                                       d->set.bird_config, d->set.node);

    if (line > want_lines)
        diag_detail(res, "the file goes on after tabby's last line (%zu): line %zu is \"%s\"",
                    want_lines, line, have);
    else if (line > have_lines)
        diag_detail(res, "the file ends at line %zu; tabby's goes on: \"%s\"", have_lines,
                    want);
    else
        diag_detail(res, "line %zu: the file has \"%s\", tabby renders \"%s\"", line, have,
                    want);
    if (error && error[0])
        diag_detail(res, "tabby-node's last attempt failed: %s", error);
    diag_item(res, "%s", d->set.bird_config);
    diag_action(res, "tabby-node writes it when what it renders changes: to write it now, "
                "tabbyctl bgp apply --node %s --bird-socket %s --bird-config %s; a file edited "
                "by hand is overwritten then", d->set.node, d->set.bird_socket,
                d->set.bird_config);
}

void diag_check_bird_config(struct diag *d)
{
    _cleanup_free_ char *want = NULL, *have = NULL;
    char a[QUOTE], b[QUOTE];
    struct tby_error err = { 0 };
    struct diag_result *res;
    size_t line;
    int r;

    if (!bird_backend(d, "bird-config") || diag_need_cluster(d, AREA, "bird-config"))
        return;
    if (render(d, &want, &err) < 0) {
        res = diag_add(&d->report, AREA, "bird-config", DIAG_FAIL,
                       "tabby cannot render BIRD's configuration for %s: %s", d->set.node,
                       tby_error_str(&err));
        diag_action(res, "the message names the resource to fix");
        return;
    }
    if ((r = tby_read_file(d->set.bird_config, 0, &have, NULL)) < 0) {
        res = diag_add(&d->report, AREA, "bird-config", DIAG_FAIL, "%s cannot be read: %s",
                       d->set.bird_config, strerror(-r));
        diag_item(res, "%s", d->set.bird_config);
        diag_action(res, "give diagnose --bird-config the file BIRD was started with (-c)");
        return;
    }
    if ((line = diag_first_difference(have, want, a, b, sizeof(a))) > 0) {
        config_differs(d, line, a, b, lines(have), lines(want));
        return;
    }
    diag_add(&d->report, AREA, "bird-config", DIAG_OK, "%s is what tabby renders for %s",
             d->set.bird_config, d->set.node);
}
