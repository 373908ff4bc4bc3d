/* output.c — tabbyctl's printers: calicoctl-shaped tables (plain and wide) per kind,
 * and YAML/JSON documents (a List when several resources were asked for). */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tabby/cleanup.h"
#include "tabby/jsonpath.h"
#include "tabby/yaml.h"
#include "ctl.h"

#define CELL 512

struct column {
    const char *header;
    bool wide_only;
    /* Writes the cell for res into buf (CELL bytes). */
    void (*cell)(const struct tby_resource *res, char *buf);
};

static void cell_name(const struct tby_resource *res, char *buf)
{
    snprintf(buf, CELL, "%s", res->meta.name);
}

static void cell_cidrs(const struct tby_cidr_list *list, char *buf)
{
    size_t len = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < list->n && len < CELL; i++) {
        char cidr[TBY_CIDR_STRLEN];

        len += (size_t)snprintf(buf + len, CELL - len, "%s%s", i ? "," : "",
                                tby_cidr_format(&list->items[i], cidr));
    }
}

static void cell_strv(const struct tby_strv *v, char *buf)
{
    size_t len = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < v->n && len < CELL; i++)
        len += (size_t)snprintf(buf + len, CELL - len, "%s%s", i ? "," : "", v->items[i]);
}

static void cell_bool(bool value, char *buf)
{
    snprintf(buf, CELL, "%s", value ? "true" : "false");
}

/* ---- IPPool ----------------------------------------------------------------------- */

static const char *const encap_names[] = { "Never", "Always", "CrossSubnet" };

static void pool_cidr(const struct tby_resource *r, char *buf)
{
    tby_cidr_format(&r->spec.ippool->cidr, buf);
}

static void pool_nat(const struct tby_resource *r, char *buf)
{
    cell_bool(r->spec.ippool->nat_outgoing, buf);
}

static void pool_ipip(const struct tby_resource *r, char *buf)
{
    snprintf(buf, CELL, "%s", encap_names[r->spec.ippool->ipip_mode]);
}

static void pool_vxlan(const struct tby_resource *r, char *buf)
{
    snprintf(buf, CELL, "%s", encap_names[r->spec.ippool->vxlan_mode]);
}

static void pool_disabled(const struct tby_resource *r, char *buf)
{
    cell_bool(r->spec.ippool->disabled, buf);
}

static void pool_no_export(const struct tby_resource *r, char *buf)
{
    cell_bool(r->spec.ippool->disable_bgp_export, buf);
}

static void pool_selector(const struct tby_resource *r, char *buf)
{
    snprintf(buf, CELL, "%s", r->spec.ippool->node_selector);
}

static const struct column ippool_columns[] = {
    { "NAME", false, cell_name },
    { "CIDR", false, pool_cidr },
    { "NAT", true, pool_nat },
    { "IPIPMODE", true, pool_ipip },
    { "VXLANMODE", true, pool_vxlan },
    { "DISABLED", true, pool_disabled },
    { "DISABLEBGPEXPORT", true, pool_no_export },
    { "SELECTOR", false, pool_selector },
    { NULL, false, NULL },
};

/* ---- IPAMConfiguration ------------------------------------------------------------ */

static void ipam_strict(const struct tby_resource *r, char *buf)
{
    cell_bool(r->spec.ipamconfig->strict_affinity, buf);
}

static void ipam_max_blocks(const struct tby_resource *r, char *buf)
{
    snprintf(buf, CELL, "%d", r->spec.ipamconfig->max_blocks_per_host);
}

static const struct column ipamconfig_columns[] = {
    { "NAME", false, cell_name },
    { "STRICTAFFINITY", false, ipam_strict },
    { "MAXBLOCKSPERHOST", false, ipam_max_blocks },
    { NULL, false, NULL },
};

/* ---- Calico policies ---------------------------------------------------------------- */

static void order_cell(bool has, double order, char *buf)
{
    if (has)
        snprintf(buf, CELL, "%g", order);
    else
        snprintf(buf, CELL, "<unset>");
}

static void policy_order(const struct tby_resource *r, char *buf)
{
    order_cell(r->spec.policy->has_order, r->spec.policy->order, buf);
}

static void policy_tier(const struct tby_resource *r, char *buf)
{
    snprintf(buf, CELL, "%s", r->spec.policy->tier ? r->spec.policy->tier : TBY_TIER_DEFAULT);
}

static void policy_selector(const struct tby_resource *r, char *buf)
{
    snprintf(buf, CELL, "%s", r->spec.policy->selector ? r->spec.policy->selector : "all()");
}

static const struct column policy_columns[] = {
    { "NAME", false, cell_name },
    { "TIER", true, policy_tier },
    { "ORDER", true, policy_order },
    { "SELECTOR", true, policy_selector },
    { NULL, false, NULL },
};

static void tier_order(const struct tby_resource *r, char *buf)
{
    order_cell(r->spec.tier->has_order, r->spec.tier->order, buf);
}

static void tier_action(const struct tby_resource *r, char *buf)
{
    snprintf(buf, CELL, "%s", r->spec.tier->default_action == TBY_TIER_PASS ? "Pass" : "Deny");
}

static const struct column tier_columns[] = {
    { "NAME", false, cell_name },
    { "ORDER", false, tier_order },
    { "DEFAULTACTION", true, tier_action },
    { NULL, false, NULL },
};

/* ---- BGP ---------------------------------------------------------------------------- */

static void bgpconfig_severity(const struct tby_resource *r, char *buf)
{
    snprintf(buf, CELL, "%s", r->spec.bgpconfig->log_severity_screen);
}

static void bgpconfig_mesh(const struct tby_resource *r, char *buf)
{
    cell_bool(r->spec.bgpconfig->node_to_node_mesh_enabled, buf);
}

static void bgpconfig_asn(const struct tby_resource *r, char *buf)
{
    if (r->spec.bgpconfig->has_as_number)
        snprintf(buf, CELL, "%" PRIu32, r->spec.bgpconfig->as_number);
    else
        snprintf(buf, CELL, "-");
}

static const struct column bgpconfig_columns[] = {
    { "NAME", false, cell_name },
    { "LOGSEVERITY", false, bgpconfig_severity },
    { "MESHENABLED", false, bgpconfig_mesh },
    { "ASNUMBER", false, bgpconfig_asn },
    { NULL, false, NULL },
};

static void peer_ip(const struct tby_resource *r, char *buf)
{
    const struct tby_bgppeer *p = r->spec.bgppeer;
    char ip[TBY_IP_STRLEN];

    if (!p->has_peer_ip)
        snprintf(buf, CELL, "(selector) %s", p->peer_selector ? p->peer_selector : "");
    else if (p->peer_port)
        snprintf(buf, CELL, p->peer_ip.family == 6 ? "[%s]:%u" : "%s:%u",
                 tby_ip_format(&p->peer_ip, ip), p->peer_port);
    else
        snprintf(buf, CELL, "%s", tby_ip_format(&p->peer_ip, ip));
}

static void peer_node(const struct tby_resource *r, char *buf)
{
    const struct tby_bgppeer *p = r->spec.bgppeer;

    snprintf(buf, CELL, "%s", p->node ? p->node : p->node_selector ? p->node_selector
                                                                   : "(global)");
}

static void peer_asn(const struct tby_resource *r, char *buf)
{
    snprintf(buf, CELL, "%" PRIu32, r->spec.bgppeer->as_number);
}

static const struct column bgppeer_columns[] = {
    { "NAME", false, cell_name },
    { "PEERIP", false, peer_ip },
    { "NODE", false, peer_node },
    { "ASN", false, peer_asn },
    { NULL, false, NULL },
};

/* ---- Node --------------------------------------------------------------------------- */

static void node_asn(const struct tby_resource *r, char *buf)
{
    if (r->spec.node->has_as_number)
        snprintf(buf, CELL, "%" PRIu32, r->spec.node->as_number);
    else
        snprintf(buf, CELL, "(64512)");
}

static void node_ipv4(const struct tby_resource *r, char *buf)
{
    buf[0] = '\0';
    if (r->spec.node->has_ipv4_address)
        tby_cidr_format(&r->spec.node->ipv4_address, buf);
}

static void node_ipv6(const struct tby_resource *r, char *buf)
{
    buf[0] = '\0';
    if (r->spec.node->has_ipv6_address)
        tby_cidr_format(&r->spec.node->ipv6_address, buf);
}

static const struct column node_columns[] = {
    { "NAME", false, cell_name },
    { "ASN", true, node_asn },
    { "IPV4", true, node_ipv4 },
    { "IPV6", true, node_ipv6 },
    { NULL, false, NULL },
};

/* ---- endpoints ---------------------------------------------------------------------- */

static void wep_workload(const struct tby_resource *r, char *buf)
{
    snprintf(buf, CELL, "%s", r->spec.wep->pod ? r->spec.wep->pod
                              : r->spec.wep->workload ? r->spec.wep->workload : "");
}

static void wep_node(const struct tby_resource *r, char *buf)
{
    snprintf(buf, CELL, "%s", r->spec.wep->node ? r->spec.wep->node : "");
}

static void wep_networks(const struct tby_resource *r, char *buf)
{
    cell_cidrs(&r->spec.wep->ip_networks, buf);
}

static void wep_interface(const struct tby_resource *r, char *buf)
{
    snprintf(buf, CELL, "%s", r->spec.wep->interface_name ? r->spec.wep->interface_name : "");
}

static void wep_profiles(const struct tby_resource *r, char *buf)
{
    cell_strv(&r->spec.wep->profiles, buf);
}

static const struct column wep_columns[] = {
    { "WORKLOAD", false, wep_workload },
    { "NODE", false, wep_node },
    { "NETWORKS", false, wep_networks },
    { "INTERFACE", false, wep_interface },
    { "PROFILES", true, wep_profiles },
    { "NAME", true, cell_name },
    { NULL, false, NULL },
};

static void hep_node(const struct tby_resource *r, char *buf)
{
    snprintf(buf, CELL, "%s", r->spec.hep->node ? r->spec.hep->node : "");
}

static void hep_interface(const struct tby_resource *r, char *buf)
{
    snprintf(buf, CELL, "%s", r->spec.hep->interface_name ? r->spec.hep->interface_name : "");
}

static void hep_ips(const struct tby_resource *r, char *buf)
{
    size_t len = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < r->spec.hep->n_expected_ips && len < CELL; i++) {
        char ip[TBY_IP_STRLEN];

        len += (size_t)snprintf(buf + len, CELL - len, "%s%s", i ? "," : "",
                                tby_ip_format(&r->spec.hep->expected_ips[i], ip));
    }
}

static void hep_profiles(const struct tby_resource *r, char *buf)
{
    cell_strv(&r->spec.hep->profiles, buf);
}

static const struct column hep_columns[] = {
    { "NAME", false, cell_name },
    { "NODE", false, hep_node },
    { "INTERFACE", true, hep_interface },
    { "IPS", true, hep_ips },
    { "PROFILES", true, hep_profiles },
    { NULL, false, NULL },
};

/* ---- network sets -------------------------------------------------------------------- */

static void netset_nets(const struct tby_resource *r, char *buf)
{
    cell_cidrs(&r->spec.networkset->nets, buf);
}

static const struct column netset_columns[] = {
    { "NAME", false, cell_name },
    { "NETS", true, netset_nets },
    { NULL, false, NULL },
};

/* ---- IP reservations -------------------------------------------------------------------- */

static void ipreservation_cidrs(const struct tby_resource *r, char *buf)
{
    cell_cidrs(&r->spec.ipreservation->reserved_cidrs, buf);
}

static const struct column ipreservation_columns[] = {
    { "NAME", false, cell_name },
    { "RESERVED CIDRS", true, ipreservation_cidrs },
    { NULL, false, NULL },
};

/* ---- kinds with only a name worth a column ------------------------------------------ */

static void cell_labels(const struct tby_resource *r, char *buf)
{
    const char *key;
    json_t *value;
    size_t len = 0;

    buf[0] = '\0';
    json_object_foreach(r->meta.labels, key, value) {
        if (len >= CELL)
            break;
        len += (size_t)snprintf(buf + len, CELL - len, "%s%s=%s", len ? "," : "", key,
                                json_string_value(value));
    }
}

static const struct column name_columns[] = {
    { "NAME", false, cell_name },
    { "LABELS", true, cell_labels },
    { NULL, false, NULL },
};

static const struct column *columns_of(enum tby_kind kind)
{
    switch (kind) {
    case TBY_KIND_IPPOOL: return ippool_columns;
    case TBY_KIND_IPAMCONFIG: return ipamconfig_columns;
    case TBY_KIND_NETWORKPOLICY:
    case TBY_KIND_GLOBALNETWORKPOLICY: return policy_columns;
    case TBY_KIND_BGPCONFIG: return bgpconfig_columns;
    case TBY_KIND_BGPPEER: return bgppeer_columns;
    case TBY_KIND_NODE: return node_columns;
    case TBY_KIND_WORKLOADENDPOINT: return wep_columns;
    case TBY_KIND_HOSTENDPOINT: return hep_columns;
    case TBY_KIND_NETWORKSET:
    case TBY_KIND_GLOBALNETWORKSET: return netset_columns;
    case TBY_KIND_TIER: return tier_columns;
    case TBY_KIND_IPRESERVATION: return ipreservation_columns;
    default: return name_columns;
    }
}

/* ---- printing ----------------------------------------------------------------------- */

int ctl_format_parse(const char *text, enum ctl_format *out, const char **spec)
{
    static const char *const names[] = { "table", "wide", "yaml", "json", "name" };
    static const char custom[] = "custom-columns=";

    if (strncmp(text, custom, strlen(custom)) == 0) {
        *out = CTL_FORMAT_CUSTOM;
        *spec = text + strlen(custom);
        return 0;
    }
    for (size_t i = 0; i < TBY_ARRAY_SIZE(names); i++) {
        if (strcmp(text, names[i]) == 0) {
            *out = (enum ctl_format)i;
            return 0;
        }
    }
    return -EINVAL;
}

struct table {
    size_t n_cols;
    size_t n_rows;
    char **cells;           /* (n_rows + 1) × n_cols, row 0 the headers */
    size_t *widths;
};

static void table_free(struct table *t)
{
    for (size_t i = 0; t->cells && i < (t->n_rows + 1) * t->n_cols; i++)
        free(t->cells[i]);
    free(t->cells);
    free(t->widths);
}

static int table_fill(struct table *t, const struct column *cols, size_t n_cols,
                      const struct tby_resource_list *list, bool namespaces)
{
    char buf[CELL];

    t->n_cols = n_cols;
    t->n_rows = list->n;
    t->cells = calloc((list->n + 1) * n_cols, sizeof(*t->cells));
    t->widths = calloc(n_cols, sizeof(*t->widths));
    if (!t->cells || !t->widths)
        return -ENOMEM;
    for (size_t row = 0; row <= list->n; row++) {
        for (size_t c = 0; c < n_cols; c++) {
            const struct tby_resource *res = row ? list->items[row - 1] : NULL;
            bool ns_col = namespaces && c == 0;
            const struct column *col = &cols[namespaces ? c - !ns_col : c];

            if (!res)
                snprintf(buf, sizeof(buf), "%s", ns_col ? "NAMESPACE" : col->header);
            else if (ns_col)
                snprintf(buf, sizeof(buf), "%s", res->meta.namespace);
            else
                col->cell(res, buf);
            t->cells[row * n_cols + c] = strdup(buf);
            if (!t->cells[row * n_cols + c])
                return -ENOMEM;
            if (strlen(buf) > t->widths[c])
                t->widths[c] = strlen(buf);
        }
    }
    return 0;
}

static void table_print(FILE *out, const struct table *t)
{
    for (size_t row = 0; row <= t->n_rows; row++) {
        for (size_t c = 0; c < t->n_cols; c++) {
            const char *cell = t->cells[row * t->n_cols + c];

            if (c + 1 < t->n_cols)
                fprintf(out, "%-*s   ", (int)t->widths[c], cell);
            else
                fprintf(out, "%s", cell);
        }
        fputc('\n', out);
    }
}

static int print_table(FILE *out, const struct tby_kind_info *info,
                       const struct tby_resource_list *list, bool wide, bool namespaces)
{
    const struct column *all = columns_of(info->kind);
    struct column cols[16];
    struct table t = { 0 };
    size_t n = 0;
    int r;

    if (list->n == 0)
        return CTL_OK;
    for (size_t i = 0; all[i].header && n < TBY_ARRAY_SIZE(cols); i++)
        if (wide || !all[i].wide_only)
            cols[n++] = all[i];
    r = table_fill(&t, cols, n + namespaces, list, namespaces);
    if (r == 0)
        table_print(out, &t);
    table_free(&t);
    return r < 0 ? ctl_fail("out of memory") : CTL_OK;
}

/* ---- custom columns ------------------------------------------------------------------ */

#define CUSTOM_SYNOPSIS "-o custom-columns=HEADER:JSONPATH[,…] (or the kind's column names)"
#define MAX_CUSTOM_COLUMNS 64

struct custom_column {
    char *header;
    struct tby_jsonpath *path;      /* NULL: a column of the kind's table */
    struct column builtin;
};

struct ctl_columns {
    struct custom_column items[MAX_CUSTOM_COLUMNS];
    size_t n;
};

void ctl_columns_free(struct ctl_columns *cols)
{
    if (!cols)
        return;
    for (size_t i = 0; i < cols->n; i++) {
        free(cols->items[i].header);
        tby_jsonpath_free(cols->items[i].path);
    }
    free(cols);
}

/* One entry: HEADER:PATH, or a column name of the kind. */
static int custom_entry(const char *entry, const struct tby_kind_info *info,
                        struct custom_column *out)
{
    const char *colon = strchr(entry, ':');
    const struct column *all = columns_of(info->kind);
    struct tby_error err = { 0 };

    if (!colon) {
        for (size_t i = 0; all[i].header; i++) {
            if (strcasecmp(all[i].header, entry) == 0) {
                out->builtin = all[i];
                out->header = strdup(all[i].header);
                return out->header ? CTL_OK : ctl_fail("out of memory");
            }
        }
        return ctl_usage_error(CUSTOM_SYNOPSIS, "\"%s\" is neither HEADER:JSONPATH nor a "
                               "column of %s", entry, info->name);
    }
    if (colon == entry)
        return ctl_usage_error(CUSTOM_SYNOPSIS, "\"%s\": the header is empty", entry);
    out->header = strndup(entry, (size_t)(colon - entry));
    if (!out->header)
        return ctl_fail("out of memory");
    if (tby_jsonpath_parse(colon + 1, &out->path, &err) < 0)
        return ctl_usage_error(CUSTOM_SYNOPSIS, "column %s: %s", out->header,
                               tby_error_str(&err));
    return CTL_OK;
}

int ctl_columns_parse(const char *spec, const struct tby_kind_info *info,
                      struct ctl_columns **out)
{
    _cleanup_(ctl_columns_freep) struct ctl_columns *cols = calloc(1, sizeof(*cols));
    _cleanup_free_ char *copy = strdup(spec);
    char *save = NULL;
    int r = CTL_OK;

    if (!cols || !copy)
        return ctl_fail("out of memory");
    for (char *e = strtok_r(copy, ",", &save); e && r == CTL_OK; e = strtok_r(NULL, ",", &save)) {
        if (cols->n == MAX_CUSTOM_COLUMNS)
            return ctl_usage_error(CUSTOM_SYNOPSIS, "more than %d columns", MAX_CUSTOM_COLUMNS);
        r = custom_entry(e, info, &cols->items[cols->n++]);
    }
    if (r != CTL_OK)
        return r;
    if (cols->n == 0)
        return ctl_usage_error(CUSTOM_SYNOPSIS, "custom-columns needs at least one column");
    *out = TBY_STEAL(cols);
    return CTL_OK;
}

static int custom_cell(const struct custom_column *col, const struct tby_resource *res,
                       const json_t *doc, char **out)
{
    _cleanup_json_ json_t *values = NULL;
    char buf[CELL];

    if (!col->path) {
        col->builtin.cell(res, buf);
        *out = strdup(buf);
        return *out ? 0 : -ENOMEM;
    }
    values = json_array();
    if (!values || tby_jsonpath_eval(col->path, doc, values) < 0)
        return -ENOMEM;
    *out = tby_jsonpath_text(values);
    return *out ? 0 : -ENOMEM;
}

static int print_custom(FILE *out, const struct ctl_columns *cols,
                        const struct tby_resource_list *list)
{
    struct table t = { .n_cols = cols->n, .n_rows = list->n };
    int r = 0;

    if (list->n == 0)
        return CTL_OK;
    t.cells = calloc((list->n + 1) * cols->n, sizeof(*t.cells));
    t.widths = calloc(cols->n, sizeof(*t.widths));
    if (!t.cells || !t.widths)
        r = -ENOMEM;
    for (size_t row = 0; r == 0 && row <= list->n; row++) {
        _cleanup_json_ json_t *doc = row ? tby_resource_encode(list->items[row - 1]) : NULL;

        for (size_t c = 0; r == 0 && c < cols->n; c++) {
            char **cell = &t.cells[row * cols->n + c];

            if (row == 0)
                r = (*cell = strdup(cols->items[c].header)) ? 0 : -ENOMEM;
            else
                r = custom_cell(&cols->items[c], list->items[row - 1], doc, cell);
            if (r == 0 && strlen(*cell) > t.widths[c])
                t.widths[c] = strlen(*cell);
        }
    }
    if (r == 0)
        table_print(out, &t);
    table_free(&t);
    return r < 0 ? ctl_fail("out of memory") : CTL_OK;
}

static json_t *as_document(const struct tby_kind_info *info,
                           const struct tby_resource_list *list, bool single)
{
    json_t *items;
    char kind[64];

    if (single && list->n == 1)
        return tby_resource_encode(list->items[0]);
    items = json_array();
    for (size_t i = 0; i < list->n; i++)
        json_array_append_new(items, tby_resource_encode(list->items[i]));
    snprintf(kind, sizeof(kind), "%sList", info->name);
    return json_pack("{s:s, s:s, s:o}", "apiVersion", info->api_version, "kind", kind,
                     "items", items);
}

int ctl_print(FILE *out, const struct tby_kind_info *info, const struct tby_resource_list *list,
              enum ctl_format format, bool single, bool all_namespaces,
              const struct ctl_columns *custom)
{
    _cleanup_json_ json_t *doc = NULL;
    _cleanup_free_ char *text = NULL;
    struct tby_error err = { 0 };

    switch (format) {
    case CTL_FORMAT_TABLE:
    case CTL_FORMAT_WIDE:
        return print_table(out, info, list, format == CTL_FORMAT_WIDE, all_namespaces);
    case CTL_FORMAT_NAME:
        for (size_t i = 0; i < list->n; i++)
            fprintf(out, "%s/%s\n", info->plural, list->items[i]->meta.name);
        return CTL_OK;
    case CTL_FORMAT_CUSTOM:
        return print_custom(out, custom, list);
    case CTL_FORMAT_YAML:
    case CTL_FORMAT_JSON:
        break;
    }
    doc = as_document(info, list, single);
    if (!doc)
        return ctl_fail("out of memory");
    if (format == CTL_FORMAT_JSON)
        text = json_dumps(doc, JSON_INDENT(2));
    else
        text = tby_yaml_dump(doc, 0, &err);
    if (!text)
        return ctl_fail("printing: %s", tby_error_str(&err));
    fputs(text, out);
    if (format == CTL_FORMAT_JSON)
        fputc('\n', out);
    return CTL_OK;
}
