/* diagnose_policy.c — the policy-table check: table inet tabby is there and holds what the
 * datastore implies. tabby-node computes that table and compares it with the kernel's on
 * every /status (tby_nft_check: the same read-back a sync starts with), so the comparison
 * is its own and follows however the table is laid out; diagnose does not read rules. It
 * also says when someone else changed the table lately: tabby-node repaired it, but
 * whatever changed it (a firewall script, `nft flush ruleset`) may do it again. Without
 * tabby-node, only whether the table exists can be told. */
#include <stdio.h>
#include <string.h>

#include "tabby/nft.h"
#include "diagnose.h"

#define AREA "kernel"
#define CHECK "policy-table"
/* A change of someone else's this recent is worth a warning. */
#define RECENT_S 3600.0
/* Differences listed in full; the rest are counted. */
#define SHOWN 10

static void without_daemon(struct diag *d)
{
    struct tby_nft *nft = NULL;
    struct tby_error err = { 0 };
    bool exists = false;
    struct diag_result *res;

    if (tby_nft_open(&nft, &err) < 0 || tby_nft_table_exists(nft, &exists, &err) < 0) {
        tby_nft_close(nft);
        diag_add(&d->report, AREA, CHECK, DIAG_WARN, "not checked: %s", tby_error_str(&err));
        return;
    }
    tby_nft_close(nft);
    if (!exists) {
        res = diag_add(&d->report, AREA, CHECK, DIAG_FAIL,
                       "table inet tabby is missing: no policy is enforced here");
        diag_item(res, "table inet tabby");
        diag_action(res, "tabby-node makes it; start it (see node/tabby-node)");
        return;
    }
    diag_add(&d->report, AREA, CHECK, DIAG_WARN, "table inet tabby is there, but whether it "
             "holds what the datastore implies cannot be told without tabby-node");
}

static void list(struct diag_result *res, const json_t *differences)
{
    size_t i;
    const json_t *v;

    json_array_foreach(differences, i, v) {
        if (i == SHOWN) {
            diag_detail(res, "… and %zu more", json_array_size(differences) - SHOWN);
            break;
        }
        diag_detail(res, "%s", json_string_value(v));
    }
}

/* One item per set or chain named: "chain to-wl", "set local-wl", "table inet tabby". */
static void items(struct diag_result *res, const json_t *differences)
{
    size_t i;
    const json_t *v;

    json_array_foreach(differences, i, v) {
        const char *text = json_string_value(v);
        size_t n = text ? strcspn(text, " ") : 0;

        if (text && text[n])
            n += 1 + strcspn(text + n + 1, " :");
        if (text && strncmp(text, "table ", 6) == 0)
            n = strlen("table inet tabby");
        if (text)
            diag_item(res, "%.*s", (int)n, text);
    }
}

static bool differs(struct diag *d, const json_t *table)
{
    const json_t *diffs = json_object_get(table, "differences");
    const char *last_error = diag_daemon_str(&d->daemon, "parts.policy.last_error");
    bool pending = json_is_true(diag_daemon_get(&d->daemon, "parts.policy.pending"));
    struct diag_result *res;

    if (json_is_true(json_object_get(table, "equal")) && !json_array_size(diffs))
        return false;
    if (!json_is_true(json_object_get(table, "present")))
        res = diag_add(&d->report, AREA, CHECK, DIAG_FAIL,
                       "table inet tabby is missing: no policy is enforced here");
    else
        res = diag_add(&d->report, AREA, CHECK, DIAG_FAIL,
                       "table inet tabby differs from what the datastore implies (%zu set%s "
                       "or chain%s)", json_array_size(diffs),
                       json_array_size(diffs) == 1 ? "" : "s",
                       json_array_size(diffs) == 1 ? "" : "s");
    list(res, diffs);
    items(res, diffs);
    if (last_error && last_error[0])
        diag_action(res, "tabby-node fails to program it: %s", last_error);
    else if (pending)
        diag_action(res, "tabby-node has changes to program still; run diagnose again in a "
                    "moment");
    else
        diag_action(res, "tabby-node repairs it now that it looked; if this comes back, "
                    "something else changes the table (see its log: \"changed outside "
                    "tabby\")");
    return true;
}

void diag_check_policy_table(struct diag *d)
{
    const json_t *table = diag_daemon_get(&d->daemon, "parts.policy.table");
    const json_t *outside = diag_daemon_get(&d->daemon, "parts.policy.changed_outside");
    double ago = json_number_value(json_object_get(outside, "seconds_ago"));
    json_int_t count = json_integer_value(json_object_get(outside, "count"));
    const char *error = json_string_value(json_object_get(table, "error"));
    struct diag_result *res;

    if (!d->daemon.answered) {
        without_daemon(d);
        return;
    }
    if (!table || error) {
        diag_add(&d->report, AREA, CHECK, DIAG_WARN, "not checked: tabby-node %s",
                 error ? error : "does not run its policy engine");
        return;
    }
    if (differs(d, table))
        return;
    if (outside && ago < RECENT_S) {
        res = diag_add(&d->report, AREA, CHECK, DIAG_WARN,
                       "table inet tabby is as it should be, but someone else changed it %lld "
                       "time%s since tabby-node started, the last %.0f s ago (repaired):",
                       (long long)count, count == 1 ? "" : "s", ago);
        list(res, json_object_get(outside, "differences"));
        items(res, json_object_get(outside, "differences"));
        diag_action(res, "find what edits table inet tabby (a firewall service, a script "
                    "running nft, `nft flush ruleset`): tabby owns that table alone");
        return;
    }
    diag_add(&d->report, AREA, CHECK, DIAG_OK, "table inet tabby holds what the datastore "
             "implies: %lld chains, %lld rules, %lld sets, %lld elements%s",
             (long long)json_integer_value(json_object_get(table, "chains")),
             (long long)json_integer_value(json_object_get(table, "rules")),
             (long long)json_integer_value(json_object_get(table, "sets")),
             (long long)json_integer_value(json_object_get(table, "elements")),
             outside ? " (changed by someone else long ago, repaired)" : "");
}
