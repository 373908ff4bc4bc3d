/* cmd_resources.c — tabbyctl apply, create, replace, delete and get. */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/catalog.h"
#include "tabby/cleanup.h"
#include "tabby/selector.h"
#include "ctl.h"

#define APPLY_SYNOPSIS "%s -f FILE|- [-f FILE…]"
#define DELETE_SYNOPSIS "delete -f FILE|- [--skip-not-found] | delete KIND NAME… [-n NAMESPACE]"
#define GET_SYNOPSIS                                                                       \
    "get KIND [NAME…] [-n NAMESPACE | -A] [-o table|wide|yaml|json|name|"                  \
    "custom-columns=HEADER:JSONPATH,…] [-l SELECTOR]"

/* Loads every file into one list: one write, all or nothing, across the files. */
static int load_files(char **files, size_t n_files, struct tby_resource_list *out)
{
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < n_files; i++) {
        struct tby_resource_list one;
        struct tby_error err = { 0 };

        if (tby_resource_load_file(files[i], &one, &err) < 0) {
            tby_resource_list_clear(out);
            return ctl_fail("%s", tby_error_str(&err));
        }
        for (size_t j = 0; j < one.n; j++) {
            if (tby_resource_list_push(out, one.items[j]) < 0) {
                tby_resource_list_clear(&one);
                tby_resource_list_clear(out);
                return ctl_fail("out of memory");
            }
            one.items[j] = NULL;
        }
        free(one.items);
    }
    return CTL_OK;
}

static const char *describe(const struct tby_resource *res, char *buf, size_t size)
{
    snprintf(buf, size, "%s %s%s%s", res->info->name,
             res->info->namespaced ? res->meta.namespace : "",
             res->info->namespaced ? "/" : "", res->meta.name);
    return buf;
}

/* What tabby takes but does not apply (it tunes something tabby lacks), said on stderr. */
static int warn_ignored(const struct tby_resource_list *list)
{
    for (size_t i = 0; i < list->n; i++) {
        _cleanup_(tby_strv_clear) struct tby_strv lines = { 0 };
        char what[300];

        if (tby_resource_ignored(list->items[i], &lines) < 0)
            return ctl_fail("out of memory");
        for (size_t j = 0; j < lines.n; j++)
            fprintf(stderr, "tabbyctl: warning: %s: %s\n",
                    describe(list->items[i], what, sizeof(what)), lines.items[j]);
    }
    return CTL_OK;
}

/* Collects -f arguments; returns the count or -1 after printing a usage error. */
static int parse_file_args(int argc, char **argv, const char *synopsis, char ***files,
                           bool *skip_missing)
{
    static const struct option options[] = {
        { "filename", required_argument, NULL, 'f' },
        { "skip-not-found", no_argument, NULL, 'S' },
        { NULL, 0, NULL, 0 },
    };
    int opt, n = 0;

    *files = calloc((size_t)argc + 1, sizeof(**files));
    if (!*files)
        return -1;
    while ((opt = getopt_long(argc, argv, "f:", options, NULL)) != -1) {
        if (opt == 'f')
            (*files)[n++] = optarg;
        else if (opt == 'S' && skip_missing)
            *skip_missing = true;
        else {
            ctl_usage_error(synopsis, "unexpected option");
            return -1;
        }
    }
    return n;
}

int ctl_cmd_apply(struct ctl *ctl, int argc, char **argv)
{
    const char *cmd = argv[0];
    enum tby_write_mode mode = strcmp(cmd, "create") == 0    ? TBY_WRITE_CREATE
                               : strcmp(cmd, "replace") == 0 ? TBY_WRITE_REPLACE
                                                             : TBY_WRITE_APPLY;
    _cleanup_free_ char **files = NULL;
    _cleanup_free_ enum tby_write_outcome *outcomes = NULL;
    struct tby_resource_list list;
    struct tby_error err = { 0 };
    struct tby_store *store;
    char synopsis[64];
    int n_files, r;

    snprintf(synopsis, sizeof(synopsis), APPLY_SYNOPSIS, cmd);
    n_files = parse_file_args(argc, argv, synopsis, &files, NULL);
    if (n_files < 0)
        return CTL_USAGE;
    if (n_files == 0 || optind < argc)
        return ctl_usage_error(synopsis, "%s takes resources from files: -f FILE (- for "
                                         "standard input)", cmd);
    r = load_files(files, (size_t)n_files, &list);
    if (r == CTL_OK && (r = warn_ignored(&list)))
        tby_resource_list_clear(&list);
    if (r)
        return r;
    store = ctl_store_create(ctl);
    outcomes = calloc(list.n, sizeof(*outcomes));
    if (!store || !outcomes) {
        tby_resource_list_clear(&list);
        return store ? ctl_fail("out of memory") : CTL_FAIL;
    }
    for (size_t i = 0; i < list.n; i++)
        outcomes[i] = TBY_OUTCOME_NOT_WRITTEN;
    r = tby_catalog_write(store, &list, mode, outcomes, &err);
    /* Without multi-key transactions (k8s:) a failure may follow writes: say them. */
    for (size_t i = 0; i < list.n; i++) {
        char what[300];

        if (outcomes[i] != TBY_OUTCOME_NOT_WRITTEN)
            printf("%s %s\n", describe(list.items[i], what, sizeof(what)),
                   tby_write_outcome_name(outcomes[i]));
    }
    tby_resource_list_clear(&list);
    if (r < 0)
        return ctl_fail("%s: %s", n_files == 1 ? files[0] : "input", tby_error_str(&err));
    return CTL_OK;
}

static int delete_files(struct ctl *ctl, char **files, size_t n_files, bool skip_missing)
{
    struct tby_resource_list list;
    struct tby_error err = { 0 };
    struct tby_store *store;
    size_t deleted = 0;
    int r = load_files(files, n_files, &list);

    if (r)
        return r;
    store = ctl_store(ctl);
    if (!store) {
        tby_resource_list_clear(&list);
        return CTL_FAIL;
    }
    r = tby_catalog_delete(store, &list, skip_missing, &deleted, &err);
    if (r < 0) {
        tby_resource_list_clear(&list);
        return ctl_fail("%s", tby_error_str(&err));
    }
    printf("deleted %zu of %zu resource(s)\n", deleted, list.n);
    tby_resource_list_clear(&list);
    return CTL_OK;
}

/* delete KIND NAME… [-n NS]: all named resources go in one transaction. */
static int delete_names(struct ctl *ctl, const struct tby_kind_info *info, char **names,
                        size_t n, const char *ns, bool skip_missing)
{
    _cleanup_free_ struct tby_resource *items = calloc(n, sizeof(*items));
    _cleanup_free_ struct tby_resource **ptrs = calloc(n, sizeof(*ptrs));
    struct tby_resource_list list = { .items = ptrs, .n = n };
    struct tby_error err = { 0 };
    struct tby_store *store;
    size_t deleted = 0;

    if (!items || !ptrs)
        return ctl_fail("out of memory");
    for (size_t i = 0; i < n; i++) {
        items[i].info = info;
        items[i].meta.name = names[i];
        items[i].meta.namespace = (char *)ns;
        ptrs[i] = &items[i];
    }
    store = ctl_store(ctl);
    if (!store)
        return CTL_FAIL;
    if (tby_catalog_delete(store, &list, skip_missing, &deleted, &err) < 0)
        return ctl_fail("%s", tby_error_str(&err));
    for (size_t i = 0; i < n; i++) {
        char what[300];

        printf("%s deleted\n", describe(&items[i], what, sizeof(what)));
    }
    return CTL_OK;
}

int ctl_cmd_delete(struct ctl *ctl, int argc, char **argv)
{
    static const struct option options[] = {
        { "filename", required_argument, NULL, 'f' },
        { "namespace", required_argument, NULL, 'n' },
        { "skip-not-found", no_argument, NULL, 'S' },
        { NULL, 0, NULL, 0 },
    };
    _cleanup_free_ char **files = calloc((size_t)argc + 1, sizeof(*files));
    const struct tby_kind_info *info;
    const char *ns = "default";
    bool skip_missing = false;
    size_t n_files = 0;
    int opt;

    if (!files)
        return ctl_fail("out of memory");
    while ((opt = getopt_long(argc, argv, "f:n:", options, NULL)) != -1) {
        if (opt == 'f')
            files[n_files++] = optarg;
        else if (opt == 'n')
            ns = optarg;
        else if (opt == 'S')
            skip_missing = true;
        else
            return ctl_usage_error(DELETE_SYNOPSIS, "unexpected option");
    }
    if (n_files > 0) {
        if (optind < argc)
            return ctl_usage_error(DELETE_SYNOPSIS, "give either -f FILE or KIND NAME, not both");
        return delete_files(ctl, files, n_files, skip_missing);
    }
    if (argc - optind < 2)
        return ctl_usage_error(DELETE_SYNOPSIS, "delete needs -f FILE, or a kind and a name");
    info = tby_kind_lookup(argv[optind]);
    if (!info)
        return ctl_fail("unknown kind \"%s\" (see tabbyctl --help)", argv[optind]);
    return delete_names(ctl, info, argv + optind + 1, (size_t)(argc - optind - 1), ns,
                        skip_missing);
}

/* ---- get ---------------------------------------------------------------------------- */

struct get_args {
    const struct tby_kind_info *info;
    const char *ns;
    bool all_namespaces;
    enum ctl_format format;
    const char *columns_spec;       /* -o custom-columns=SPEC */
    const char *selector;
    char **names;
    size_t n_names;
};

static int parse_get(int argc, char **argv, struct get_args *a)
{
    static const struct option options[] = {
        { "namespace", required_argument, NULL, 'n' },
        { "all-namespaces", no_argument, NULL, 'A' },
        { "output", required_argument, NULL, 'o' },
        { "selector", required_argument, NULL, 'l' },
        { NULL, 0, NULL, 0 },
    };
    int opt;

    memset(a, 0, sizeof(*a));
    a->ns = "default";
    while ((opt = getopt_long(argc, argv, "n:Ao:l:", options, NULL)) != -1) {
        if (opt == 'n')
            a->ns = optarg;
        else if (opt == 'A')
            a->all_namespaces = true;
        else if (opt == 'o') {
            if (ctl_format_parse(optarg, &a->format, &a->columns_spec) < 0)
                return ctl_usage_error(GET_SYNOPSIS, "unknown output format \"%s\"", optarg);
        } else if (opt == 'l')
            a->selector = optarg;
        else
            return ctl_usage_error(GET_SYNOPSIS, "unexpected option");
    }
    if (optind >= argc)
        return ctl_usage_error(GET_SYNOPSIS, "get needs a kind, such as ippool");
    a->info = tby_kind_lookup(argv[optind]);
    if (!a->info)
        return ctl_fail("unknown kind \"%s\" (see tabbyctl --help)", argv[optind]);
    a->names = argv + optind + 1;
    a->n_names = (size_t)(argc - optind - 1);
    if (a->n_names && a->all_namespaces)
        return ctl_usage_error(GET_SYNOPSIS, "a name and --all-namespaces do not go together");
    return CTL_OK;
}

static int get_named(struct tby_store *store, const struct get_args *a,
                     struct tby_resource_list *out)
{
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < a->n_names; i++) {
        struct tby_resource *res = NULL;
        struct tby_error err = { 0 };

        if (tby_catalog_get(store, a->info, a->ns, a->names[i], &res, &err) < 0) {
            tby_resource_list_clear(out);
            return ctl_fail("%s", tby_error_str(&err));
        }
        if (tby_resource_list_push(out, res) < 0) {
            tby_resource_free(res);
            tby_resource_list_clear(out);
            return ctl_fail("out of memory");
        }
    }
    return CTL_OK;
}

/* Keeps the resources whose labels the selector matches. */
static int filter_by_selector(const char *text, struct tby_resource_list *list)
{
    _cleanup_(tby_sel_freep) struct tby_sel *sel = NULL;
    struct tby_error err = { 0 };
    size_t kept = 0;

    if (tby_sel_parse(text, &sel, &err) < 0)
        return ctl_fail("--selector: %s", tby_error_str(&err));
    for (size_t i = 0; i < list->n; i++) {
        struct tby_labels labels = tby_labels_from_json(list->items[i]->meta.labels);

        if (tby_sel_match(sel, &labels))
            list->items[kept++] = list->items[i];
        else
            tby_resource_free(list->items[i]);
    }
    list->n = kept;
    return CTL_OK;
}

/* kubectl's "No resources found" for a table; a datastore not made yet says so. */
static void say_none_found(const struct get_args *a, const struct tby_store *store)
{
    fprintf(stderr, "No %s found", a->info->plural);
    if (a->info->namespaced && !a->all_namespaces)
        fprintf(stderr, " in namespace %s", a->ns);
    if (tby_store_missing(store))
        fprintf(stderr, " (the datastore %s does not exist yet)",
                tby_store_local_file(tby_store_uri(store)));
    fputs(".\n", stderr);
}

int ctl_cmd_get(struct ctl *ctl, int argc, char **argv)
{
    _cleanup_(ctl_columns_freep) struct ctl_columns *columns = NULL;
    struct tby_resource_list list = { 0 };
    struct get_args a;
    struct tby_store *store;
    struct tby_error err = { 0 };
    int r = parse_get(argc, argv, &a);

    if (r == CTL_OK && a.format == CTL_FORMAT_CUSTOM)
        r = ctl_columns_parse(a.columns_spec, a.info, &columns);
    if (r)
        return r;
    store = ctl_store(ctl);
    if (!store)
        return CTL_FAIL;
    if (a.n_names)
        r = get_named(store, &a, &list);
    else if (tby_catalog_list(store, a.info, a.all_namespaces ? NULL : a.ns, &list, &err) < 0)
        r = ctl_fail("%s", tby_error_str(&err));
    if (r == CTL_OK && a.selector)
        r = filter_by_selector(a.selector, &list);
    if (r == CTL_OK)
        r = ctl_print(stdout, a.info, &list, a.format, a.n_names == 1,
                      a.all_namespaces && a.info->namespaced, columns);
    if (r == CTL_OK && list.n == 0 && !a.n_names &&
        (a.format == CTL_FORMAT_TABLE || a.format == CTL_FORMAT_WIDE ||
         a.format == CTL_FORMAT_CUSTOM))
        say_none_found(&a, store);
    tby_resource_list_clear(&list);
    return r;
}
