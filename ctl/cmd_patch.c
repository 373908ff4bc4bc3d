/* cmd_patch.c — tabbyctl patch KIND NAME -p PATCH: a JSON Merge Patch (RFC 7386) of one
 * stored resource, as `calicoctl patch` and `kubectl patch --type merge` take it (Calico's
 * v3 types declare no patch strategy of their own, so calicoctl's default "strategic"
 * patch of them merges the same way). The patched document is decoded and checked as
 * `apply` checks a file (the message names the field), then written with a compare on
 * the resourceVersion read: a concurrent change is read again and the patch applied to
 * it, unless the patch names a resourceVersion, which must then be the stored one. The
 * patch may not change what identifies the resource (apiVersion, kind, name,
 * namespace); the datastore's bookkeeping (uid, creationTimestamp) stays as stored. */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/catalog.h"
#include "tabby/cleanup.h"
#include "tabby/json_merge.h"
#include "tabby/yaml.h"
#include "ctl.h"

#define PATCH_SYNOPSIS "patch KIND NAME -p PATCH [-n NAMESPACE] [--type merge|strategic]"
#define MAX_ATTEMPTS 5

struct patch_args {
    const struct tby_kind_info *info;
    const char *name;
    const char *ns;
    const char *text;
};

static int parse_patch(int argc, char **argv, struct patch_args *a)
{
    static const struct option options[] = {
        { "patch", required_argument, NULL, 'p' },
        { "namespace", required_argument, NULL, 'n' },
        { "type", required_argument, NULL, 't' },
        { NULL, 0, NULL, 0 },
    };
    int opt;

    memset(a, 0, sizeof(*a));
    a->ns = "default";
    while ((opt = getopt_long(argc, argv, "p:n:t:", options, NULL)) != -1) {
        if (opt == 'p')
            a->text = optarg;
        else if (opt == 'n')
            a->ns = optarg;
        else if (opt == 't' && strcmp(optarg, "json") == 0)
            return ctl_usage_error(PATCH_SYNOPSIS, "--type json (a JSON Patch, RFC 6902) is "
                                   "not supported: give a merge patch");
        else if (opt != 't' || (strcmp(optarg, "merge") != 0 && strcmp(optarg, "strategic") != 0))
            return ctl_usage_error(PATCH_SYNOPSIS, opt == 't' ? "--type: merge or strategic"
                                                               : "unexpected option");
    }
    if (argc - optind != 2 || !a->text)
        return ctl_usage_error(PATCH_SYNOPSIS, "patch needs a kind, a name and -p PATCH");
    a->info = tby_kind_lookup(argv[optind]);
    if (!a->info)
        return ctl_fail("unknown kind \"%s\" (see tabbyctl --help)", argv[optind]);
    a->name = argv[optind + 1];
    if (!a->info->namespaced)
        a->ns = NULL;
    return CTL_OK;
}

/* The patch text (JSON, or YAML as kubectl also takes): one document, an object. */
static int load_patch(const char *text, json_t **out)
{
    struct tby_yaml_docs docs = { 0 };
    struct tby_error err = { 0 };
    json_t *patch;

    if (tby_yaml_load(text, strlen(text), "-p", &docs, &err) < 0)
        return ctl_usage_error(PATCH_SYNOPSIS, "%s", tby_error_str(&err));
    patch = json_array_size(docs.docs) == 1 ? json_array_get(docs.docs, 0) : NULL;
    if (!json_is_object(patch)) {
        tby_yaml_docs_clear(&docs);
        return ctl_usage_error(PATCH_SYNOPSIS, "-p: the patch must be one object, such as "
                                               "'{\"spec\":{\"disabled\":true}}'");
    }
    *out = json_incref(patch);
    tby_yaml_docs_clear(&docs);
    return CTL_OK;
}

static bool same_member(const json_t *a, const json_t *b, const char *key)
{
    const json_t *x = json_object_get(a, key), *y = json_object_get(b, key);

    return (!x && !y) || (x && y && json_equal(x, y));
}

/* The patched document may not change the resource's identity; the bookkeeping is put
 * back as stored. Fails at the field. */
static int keep_identity(const json_t *was, json_t *doc, const char *what)
{
    static const char *const kept[] = { "uid", "creationTimestamp", "resourceVersion" };
    const json_t *old_meta = json_object_get(was, "metadata");
    json_t *meta = json_object_get(doc, "metadata");

    if (!json_is_object(doc))
        return ctl_fail("patch %s: the patched resource is not an object", what);
    if (!same_member(was, doc, "apiVersion") || !same_member(was, doc, "kind"))
        return ctl_fail("patch %s: %s: a patch cannot change it", what,
                        same_member(was, doc, "kind") ? "apiVersion" : "kind");
    if (!json_is_object(meta))
        return ctl_fail("patch %s: metadata: a patch cannot remove it", what);
    if (!same_member(old_meta, meta, "name") || !same_member(old_meta, meta, "namespace"))
        return ctl_fail("patch %s: metadata.%s: a patch cannot change it", what,
                        same_member(old_meta, meta, "name") ? "namespace" : "name");
    for (size_t i = 0; i < TBY_ARRAY_SIZE(kept); i++) {
        const json_t *v = json_object_get(old_meta, kept[i]);

        if (v)
            json_object_set(meta, kept[i], (json_t *)v);
        else
            json_object_del(meta, kept[i]);
    }
    return CTL_OK;
}

/* A resourceVersion in the patch is a precondition, as for kubectl. */
static int check_pinned(const json_t *patch, const struct tby_resource *res, const char *what,
                        bool *pinned)
{
    const json_t *rv = json_object_get(json_object_get(patch, "metadata"), "resourceVersion");
    char stored[24];

    *pinned = rv && !json_is_null(rv);
    if (!*pinned)
        return CTL_OK;
    snprintf(stored, sizeof(stored), "%lld", (long long)res->meta.resource_version);
    if ((json_is_string(rv) && strcmp(json_string_value(rv), stored) == 0) ||
        (json_is_integer(rv) && json_integer_value(rv) == res->meta.resource_version))
        return CTL_OK;
    return ctl_fail("patch %s: metadata.resourceVersion: the patch is for another version "
                    "than the stored one (%s): it changed since", what, stored);
}

/* One read-patch-write. -ECANCELED (nothing printed) when the resource changed between
 * the read and the write and the patch may be applied again. */
static int patch_once(struct tby_store *store, const struct patch_args *a, const json_t *patch,
                      const char *what)
{
    _cleanup_(tby_resource_freep) struct tby_resource *res = NULL;
    _cleanup_(tby_resource_freep) struct tby_resource *patched = NULL;
    _cleanup_json_ json_t *was = NULL;
    _cleanup_json_ json_t *doc = NULL;
    struct tby_resource_list list = { .items = &patched, .n = 1 };
    struct tby_error err = { 0 };
    bool pinned;
    int r;

    if (tby_catalog_get(store, a->info, a->ns, a->name, &res, &err) < 0)
        return ctl_fail("%s", tby_error_str(&err));
    if ((r = check_pinned(patch, res, what, &pinned)) != CTL_OK)
        return r;
    was = tby_resource_encode(res);
    doc = json_deep_copy(was);
    if (!was || !doc)
        return ctl_fail("out of memory");
    r = tby_json_merge_patch(&doc, patch);
    if (r < 0)
        return ctl_fail("patch %s: %s", what, r == -E2BIG ? "the patch is nested too deep"
                                                          : "out of memory");
    if ((r = keep_identity(was, doc, what)) != CTL_OK)
        return r;
    if (tby_resource_decode(doc, &patched, &err) < 0)
        return ctl_fail("patch %s: %s", what, tby_error_str(&err));
    if (tby_resource_equal(res, patched))
        return CTL_OK;
    r = tby_catalog_write(store, &list, TBY_WRITE_REPLACE, NULL, &err);
    if (r == -ECANCELED && !pinned)
        return r;
    /* the datastore's messages name the resource already */
    return r < 0 ? ctl_fail("%s", tby_error_str(&err)) : CTL_OK;
}

int ctl_cmd_patch(struct ctl *ctl, int argc, char **argv)
{
    _cleanup_json_ json_t *patch = NULL;
    struct tby_store *store = NULL;
    struct patch_args a;
    char what[300];
    int r = parse_patch(argc, argv, &a);

    if (r == CTL_OK)
        r = load_patch(a.text, &patch);
    if (r == CTL_OK && !(store = ctl_store(ctl)))
        r = CTL_FAIL;
    if (r != CTL_OK)
        return r;
    snprintf(what, sizeof(what), "%s %s%s%s", a.info->name, a.ns ? a.ns : "", a.ns ? "/" : "",
             a.name);
    for (int attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        r = patch_once(store, &a, patch, what);
        if (r != -ECANCELED)
            break;
    }
    if (r == -ECANCELED)
        return ctl_fail("patch %s: it kept changing; try again", what);
    if (r == CTL_OK)
        printf("Successfully patched 1 '%s' resource\n", a.info->name);
    return r;
}
