/* cmd_selector.c — tabbyctl selector check|match: try a Calico selector before putting it
 * in a policy. */
#include <stdlib.h>
#include <string.h>

#include "tabby/cleanup.h"
#include "tabby/selector.h"
#include "tabby/validate.h"
#include "ctl.h"

#define SELECTOR_SYNOPSIS "selector check EXPR | selector match EXPR [KEY=VALUE…]"

static int parse(const char *text, struct tby_sel **sel)
{
    struct tby_error err = { 0 };

    if (tby_sel_parse(text, sel, &err) < 0) {
        fprintf(stderr, "tabbyctl: %s\n", tby_error_str(&err));
        return CTL_USAGE;
    }
    return CTL_OK;
}

/* Splits KEY=VALUE arguments into label pairs (pointing into argv). */
static int labels_from_args(char **args, int n, struct tby_label *pairs)
{
    for (int i = 0; i < n; i++) {
        char *eq = strchr(args[i], '=');

        if (!eq)
            return ctl_usage_error(SELECTOR_SYNOPSIS, "label \"%s\": expected KEY=VALUE",
                                   args[i]);
        *eq = '\0';
        if (!tby_valid_label_key(args[i]) || !tby_valid_label_value(eq + 1))
            return ctl_usage_error(SELECTOR_SYNOPSIS, "label \"%s=%s\": not a valid "
                                   "Kubernetes label", args[i], eq + 1);
        pairs[i].key = args[i];
        pairs[i].value = eq + 1;
    }
    pairs[n].key = NULL;
    return CTL_OK;
}

int ctl_cmd_selector(struct ctl *ctl, int argc, char **argv)
{
    _cleanup_(tby_sel_freep) struct tby_sel *sel = NULL;
    _cleanup_free_ struct tby_label *pairs = NULL;
    struct tby_labels labels;
    int r;

    (void)ctl;
    if (argc < 3 || (strcmp(argv[1], "check") != 0 && strcmp(argv[1], "match") != 0))
        return ctl_usage_error(SELECTOR_SYNOPSIS, "selector needs check or match and an "
                                                  "expression");
    if (strcmp(argv[1], "check") == 0 && argc != 3)
        return ctl_usage_error(SELECTOR_SYNOPSIS, "check takes one expression (quote it)");
    r = parse(argv[2], &sel);
    if (r)
        return r;
    if (strcmp(argv[1], "check") == 0) {
        printf("%s\n", tby_sel_canonical(sel));
        return CTL_OK;
    }
    pairs = calloc((size_t)argc, sizeof(*pairs));
    if (!pairs)
        return ctl_fail("out of memory");
    r = labels_from_args(argv + 3, argc - 3, pairs);
    if (r)
        return r;
    labels = tby_labels_from_pairs(pairs);
    if (tby_sel_match(sel, &labels)) {
        printf("true\n");
        return CTL_OK;
    }
    printf("false\n");
    return CTL_FAIL;
}
