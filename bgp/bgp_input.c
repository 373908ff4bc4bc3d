/* bgp_input.c — the renderer's input: ownership, protocol names, and the checks that keep
 * user strings from reaching BIRD's configuration unchecked. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/array.h"
#include "tabby/bgp.h"
#include "tabby/validate.h"
#include "bgp_internal.h"

static const struct {
    const char *prefix;
    const char *name;
} peer_types[] = {
    [TBY_BGP_PEER_NODE] = { "Node_", "node specific" },
    [TBY_BGP_PEER_GLOBAL] = { "Global_", "global" },
    [TBY_BGP_PEER_MESH] = { "Mesh_", "node-to-node mesh" },
};

const char *tby_bgp_peer_type_name(enum tby_bgp_peer_type type)
{
    return type <= TBY_BGP_PEER_MESH ? peer_types[type].name : "unknown";
}

int tby_bgp_peer_type_of_protocol(const char *protocol)
{
    for (size_t i = 0; i < sizeof(peer_types) / sizeof(peer_types[0]); i++)
        if (strncmp(protocol, peer_types[i].prefix, strlen(peer_types[i].prefix)) == 0)
            return (int)i;
    return -1;
}

/* Addresses become BIRD symbols: '.' and ':' turn into '_' (10_0_0_2, fd00__2). As in
 * Calico, a mesh session's name has no port: there is one per node. */
char *tby_bgp_protocol_name(const struct tby_bgp_peer *peer, char *buf)
{
    char ip[TBY_IP_STRLEN];
    int type = peer->type <= TBY_BGP_PEER_MESH ? (int)peer->type : TBY_BGP_PEER_NODE;
    int n;

    tby_ip_format(&peer->ip, ip);
    for (char *p = ip; *p; p++)
        if (*p == '.' || *p == ':')
            *p = '_';
    n = snprintf(buf, TBY_BGP_PROTO_STRLEN, "%s%s", peer_types[type].prefix, ip);
    if (peer->port && peer->port != TBY_BGP_DEFAULT_PORT && type != TBY_BGP_PEER_MESH)
        snprintf(buf + n, TBY_BGP_PROTO_STRLEN - (size_t)n, "_port_%u", peer->port);
    return buf;
}

bool tby_bgp_password_valid(const char *password)
{
    size_t len = strlen(password);

    if (len == 0 || len > TBY_BGP_PASSWORD_MAX)
        return false;
    for (const char *p = password; *p; p++)
        if (*p < 0x20 || *p > 0x7e || *p == '"' || *p == '\\')
            return false;
    return true;
}

bool bgp_name_valid(const char *s)
{
    return tby_valid_dns1123_subdomain(s);
}

bool bgp_text_valid(const char *s)
{
    size_t len = strlen(s);

    return len <= 200 &&
           strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ._:/-") ==
               len;
}

bool bgp_interface_pattern_valid(const char *s)
{
    return tby_bgpfilter_interface_valid(s);
}

/* qsort order of CIDRs: by address, then prefix length. */
int bgp_cidr_cmp(const void *a, const void *b)
{
    return tby_cidr_compare(a, b);
}

/* ---- ownership ----------------------------------------------------------------------- */

void bgp_peer_clear(struct tby_bgp_peer *p)
{
    free(p->password);
    free(p->description);
    tby_strv_clear(&p->filters);
}

static void filter_clear(struct tby_bgp_filter *f)
{
    free(f->name);
    for (int l = 0; l < TBY_BGPF_LISTS; l++) {
        for (size_t i = 0; i < f->n[l]; i++)
            free(f->rules[l][i].interface);
        free(f->rules[l]);
    }
}

void tby_bgp_input_clear(struct tby_bgp_input *in)
{
    free(in->node);
    for (size_t i = 0; i < in->n_peers; i++)
        bgp_peer_clear(&in->peers[i]);
    free(in->peers);
    for (size_t i = 0; i < in->n_filters; i++)
        filter_clear(&in->filters[i]);
    free(in->filters);
    free(in->pools);
    free(in->blocks);
    free(in->services);
    for (size_t i = 0; i < in->n_communities; i++)
        tby_strv_clear(&in->communities[i].values);
    free(in->communities);
    tby_strv_clear(&in->ignored_interfaces);
    tby_strv_clear(&in->warnings);
    memset(in, 0, sizeof(*in));
}

static int dup_or_null(const char *s, char **out)
{
    *out = NULL;
    if (s && !(*out = strdup(s)))
        return -ENOMEM;
    return 0;
}

int tby_bgp_input_add_peer(struct tby_bgp_input *in, const struct tby_bgp_peer *peer)
{
    struct tby_bgp_peer copy = *peer;

    copy.filters = (struct tby_strv){ 0 };
    if (dup_or_null(peer->password, &copy.password) < 0 ||
        dup_or_null(peer->description, &copy.description) < 0 ||
        tby_strv_copy(&copy.filters, &peer->filters) < 0) {
        bgp_peer_clear(&copy);
        return -ENOMEM;
    }
    if (TBY_GROW(in->peers, in->cap_peers, in->n_peers + 1) < 0) {
        bgp_peer_clear(&copy);
        return -ENOMEM;
    }
    in->peers[in->n_peers++] = copy;
    return 0;
}

int tby_bgp_input_add_filter(struct tby_bgp_input *in, const char *name,
                             const struct tby_bgpfilter *spec)
{
    struct tby_bgp_filter f = { .name = strdup(name) };
    int r = f.name ? 0 : -ENOMEM;

    for (int l = 0; r == 0 && l < TBY_BGPF_LISTS; l++) {
        if (!spec->n[l])
            continue;
        f.rules[l] = calloc(spec->n[l], sizeof(*f.rules[l]));
        if (!f.rules[l]) {
            r = -ENOMEM;
            break;
        }
        f.n[l] = spec->n[l];
        for (size_t i = 0; i < spec->n[l]; i++) {
            f.rules[l][i] = spec->rules[l][i];
            f.rules[l][i].interface = NULL;
            if (dup_or_null(spec->rules[l][i].interface, &f.rules[l][i].interface) < 0)
                r = -ENOMEM;
        }
    }
    if (r == 0 && TBY_GROW(in->filters, in->cap_filters, in->n_filters + 1) < 0)
        r = -ENOMEM;
    if (r < 0) {
        filter_clear(&f);
        return r;
    }
    in->filters[in->n_filters++] = f;
    return 0;
}

int tby_bgp_input_add_block(struct tby_bgp_input *in, const struct tby_cidr *block)
{
    if (TBY_GROW(in->blocks, in->cap_blocks, in->n_blocks + 1) < 0)
        return -ENOMEM;
    in->blocks[in->n_blocks++] = *block;
    return 0;
}
