/* json_merge.h — JSON Merge Patch (RFC 7386), as `tabbyctl patch -p` and kubectl's
 * `--type merge` apply it: an object patch merges into the target member by member, a
 * null member removes that member, anything else replaces the target whole.
 *
 * Owns nothing: *target is replaced by a new reference (the old one is released).
 */
#ifndef TABBY_JSON_MERGE_H
#define TABBY_JSON_MERGE_H

#include <jansson.h>

/* Patches deeper than this are refused (-E2BIG): a patch is typed by hand. */
#define TBY_MERGE_PATCH_MAX_DEPTH 64

/* Applies patch to *target (which may be NULL: nothing). 0, -ENOMEM, or -E2BIG. */
int tby_json_merge_patch(json_t **target, const json_t *patch);

#endif
