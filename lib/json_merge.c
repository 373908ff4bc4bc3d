/* json_merge.c — JSON Merge Patch (RFC 7386) over jansson trees. */
#include <errno.h>

#include "tabby/json_merge.h"

static int merge(json_t **target, const json_t *patch, int depth)
{
    const char *key;
    json_t *value;

    if (depth > TBY_MERGE_PATCH_MAX_DEPTH)
        return -E2BIG;
    if (!json_is_object(patch)) {
        json_t *copy = json_deep_copy(patch);

        if (!copy)
            return -ENOMEM;
        json_decref(*target);
        *target = copy;
        return 0;
    }
    if (!json_is_object(*target)) {
        json_decref(*target);
        if (!(*target = json_object()))
            return -ENOMEM;
    }
    json_object_foreach((json_t *)patch, key, value) {
        json_t *member;
        int r;

        if (json_is_null(value)) {
            json_object_del(*target, key);
            continue;
        }
        member = json_incref(json_object_get(*target, key));
        r = merge(&member, value, depth + 1);
        if (r < 0) {
            json_decref(member);
            return r;
        }
        /* json_object_set_new takes the reference, failing or not. */
        if (json_object_set_new(*target, key, member) < 0)
            return -ENOMEM;
    }
    return 0;
}

int tby_json_merge_patch(json_t **target, const json_t *patch)
{
    return merge(target, patch, 0);
}
