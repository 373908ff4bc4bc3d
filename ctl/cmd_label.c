/* cmd_label.c — tabbyctl label: change a resource's labels as `kubectl label` does
 * (key=value sets, key- removes, changing a value needs --overwrite). Mostly for pods'
 * WorkloadEndpoints, whose labels select them in policies: tabby-node sees the change
 * through its watch and follows at once. The write compares the resourceVersion it read,
 * so a concurrent change (the CNI plugin re-adding the pod) is never overwritten: it is
 * read again and the change applied to what is there now. */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/catalog.h"
#include "tabby/cleanup.h"
#include "tabby/endpoint_names.h"
#include "tabby/validate.h"
#include "ctl.h"

#define LABEL_SYNOPSIS \
    "label KIND NAME [-n NAMESPACE] [--overwrite] KEY=VALUE… KEY-…"
#define MAX_ATTEMPTS 5

struct label_change {
    const char *key;        /* points into argv, '=' or '-' replaced by NUL */
    const char *value;      /* NULL: remove */
};

struct label_args {
    const struct tby_kind_info *info;
    const char *name;
    const char *ns;
    bool overwrite;
    struct label_change *changes;
    size_t n_changes;
};

static int parse_change(char *arg, struct label_change *c)
{
    char *eq = strchr(arg, '=');
    size_t len = strlen(arg);
    const char *part, *why;

    if (eq) {
        *eq = '\0';
        c->value = eq + 1;
        if ((why = tby_label_value_problem(c->value, strlen(c->value))))
            return ctl_fail("invalid label value \"%s\" for %s: %s", c->value, arg, why);
    } else if (len > 1 && arg[len - 1] == '-') {
        arg[len - 1] = '\0';
        c->value = NULL;
    } else {
        return ctl_usage_error(LABEL_SYNOPSIS, "\"%s\": a label change is KEY=VALUE or KEY-",
                               arg);
    }
    c->key = arg;
    if ((why = tby_label_key_problem(c->key, &part)))
        return ctl_fail("invalid label key \"%s\": %s%s", c->key, part, why);
    return CTL_OK;
}

static int parse_changes(char **argv, size_t n, struct label_args *a)
{
    a->changes = calloc(n, sizeof(*a->changes));
    if (!a->changes)
        return ctl_fail("out of memory");
    for (size_t i = 0; i < n; i++) {
        int r = parse_change(argv[i], &a->changes[i]);

        if (r)
            return r;
        for (size_t j = 0; j < i; j++)
            if (strcmp(a->changes[j].key, a->changes[i].key) == 0)
                return ctl_fail("label \"%s\" is changed twice in one command",
                                a->changes[i].key);
    }
    a->n_changes = n;
    return CTL_OK;
}

static int parse_label(int argc, char **argv, struct label_args *a)
{
    static const struct option options[] = {
        { "namespace", required_argument, NULL, 'n' },
        { "overwrite", no_argument, NULL, 'O' },
        { NULL, 0, NULL, 0 },
    };
    int opt;

    memset(a, 0, sizeof(*a));
    a->ns = "default";
    while ((opt = getopt_long(argc, argv, "n:", options, NULL)) != -1) {
        if (opt == 'n')
            a->ns = optarg;
        else if (opt == 'O')
            a->overwrite = true;
        else
            return ctl_usage_error(LABEL_SYNOPSIS, "unexpected option");
    }
    if (argc - optind < 3)
        return ctl_usage_error(LABEL_SYNOPSIS, "label needs a kind, a name and at least one "
                               "change");
    a->info = tby_kind_lookup(argv[optind]);
    if (!a->info)
        return ctl_fail("unknown kind \"%s\" (see tabbyctl --help)", argv[optind]);
    a->name = argv[optind + 1];
    return parse_changes(argv + optind + 2, (size_t)(argc - optind - 2), a);
}

/* Applies the changes to labels; *changed says whether anything differs. */
static int apply_changes(const struct label_args *a, json_t *labels, bool *changed)
{
    *changed = false;
    for (size_t i = 0; i < a->n_changes; i++) {
        const struct label_change *c = &a->changes[i];
        const char *old = json_string_value(json_object_get(labels, c->key));

        if (!c->value) {
            if (!old)
                fprintf(stderr, "label \"%s\" not found.\n", c->key);
            *changed |= old != NULL;
            json_object_del(labels, c->key);
            continue;
        }
        if (old && strcmp(old, c->value) == 0)
            continue;
        if (old && !a->overwrite)
            return ctl_fail("'%s' already has a value (%s), and --overwrite is false", c->key,
                            old);
        if (json_object_set_new(labels, c->key, json_string(c->value)) < 0)
            return ctl_fail("out of memory");
        *changed = true;
    }
    return CTL_OK;
}

/* One read-modify-write. -ECANCELED (nothing printed) when the resource changed between
 * the read and the write. */
static int label_once(struct tby_store *store, const struct label_args *a, bool *changed)
{
    _cleanup_(tby_resource_freep) struct tby_resource *res = NULL;
    struct tby_resource_list list = { .items = &res, .n = 1 };
    struct tby_error err = { 0 };
    const char *ns = a->info->namespaced ? a->ns : NULL;
    json_t *own;
    int r;

    if (tby_catalog_get(store, a->info, ns, a->name, &res, &err) < 0)
        return ctl_fail("%s", tby_error_str(&err));
    /* a decoded map may be shared (an empty one is): change a copy of it */
    if (!(own = json_deep_copy(res->meta.labels)))
        return ctl_fail("out of memory");
    json_decref(res->meta.labels);
    res->meta.labels = own;
    if ((r = apply_changes(a, res->meta.labels, changed)) || !*changed)
        return r;
    r = tby_catalog_write(store, &list, TBY_WRITE_REPLACE, NULL, &err);
    if (r == -ECANCELED)
        return r;
    return r < 0 ? ctl_fail("%s", tby_error_str(&err)) : CTL_OK;
}

/* On k8s: an endpoint is its Pod: its labels are the Pod's, which kubectl changes. */
static int refuse_pod_labels(const struct label_args *a)
{
    struct tby_wep_parts parts;
    const char *pod = a->name;
    int r;

    if (tby_wep_name_parse(a->name, &parts) == 0 && strcmp(parts.orchestrator, "k8s") == 0)
        pod = parts.workload;
    r = ctl_fail("on k8s: a WorkloadEndpoint's labels are its Pod's: label the Pod instead: "
                 "kubectl label pod -n %s %s%s KEY=VALUE…", a->ns, pod,
                 a->overwrite ? " --overwrite" : "");
    tby_wep_parts_clear(&parts);
    return r;
}

int ctl_cmd_label(struct ctl *ctl, int argc, char **argv)
{
    struct label_args a;
    struct tby_store *store = NULL;
    bool changed = false;
    int r = parse_label(argc, argv, &a);

    if (r == CTL_OK && !(store = ctl_store(ctl)))
        r = CTL_FAIL;
    if (r == CTL_OK && a.info->kind == TBY_KIND_WORKLOADENDPOINT &&
        strncmp(tby_store_uri(store), "k8s:", 4) == 0)
        r = refuse_pod_labels(&a);
    for (int attempt = 0; r == CTL_OK && attempt < MAX_ATTEMPTS; attempt++) {
        r = label_once(store, &a, &changed);
        if (r != -ECANCELED)
            break;
        r = attempt + 1 < MAX_ATTEMPTS ? CTL_OK
                                       : ctl_fail("%s %s kept changing; try again", a.info->name,
                                                  a.name);
    }
    if (r == CTL_OK)
        printf("%s %s%s%s %s\n", a.info->name, a.info->namespaced ? a.ns : "",
               a.info->namespaced ? "/" : "", a.name, changed ? "labeled" : "not labeled");
    free(a.changes);
    return r;
}
