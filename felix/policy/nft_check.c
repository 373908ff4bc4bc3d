/* nft_check.c — compares table inet tabby with the ruleset without changing either: the
 * same read-back a sync starts with, then, instead of a batch, a description of what the
 * batch would send. tabby-node answers /status with it and keeps what a change made by
 * someone else looked like before it repaired it; `tabbyctl node diagnose` shows both.
 *
 * The read-back leaves the ruleset's kernel marks as the kernel has them and its journal
 * holding the whole difference, exactly as in tby_nft_sync: a difference makes the next
 * sync read back again and repair it, none leaves the dataplane's knowledge as it was. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/cleanup.h"
#include "nft_internal.h"

/* The repair commands kept: enough to see what differs, bounded for a large table. */
#define COMMANDS_MAX (16 * 1024)

struct elem_count {
    size_t missing, unwanted;
};

static int count_elem(const struct tby_rs_elem *e, void *ctx)
{
    struct elem_count *c = ctx;

    c->missing += tby_rs_elem_new(e);
    c->unwanted += tby_rs_elem_gone(e);
    return 0;
}

#define say(out, ...) tby_strv_pushf(&(out)->differences, __VA_ARGS__)

static int describe_sets(const struct tby_rs *rs, struct tby_nft_check *out)
{
    int r = 0;

    for (size_t i = 0; r == 0 && i < rs->n_set_journal; i++) {
        const struct tby_rs_set *s = rs->set_journal[i];
        struct elem_count c = { 0 };

        if (s->live && !s->prog) {
            r = say(out, "set %s is missing", s->name);
            continue;
        }
        if (!s->live) {
            if (s->prog)
                r = say(out, "set %s is there but tabby does not want it", s->name);
            continue;
        }
        tby_rs_set_journal_foreach(s, count_elem, &c);
        if (c.missing && c.unwanted)
            r = say(out, "set %s lacks %zu element%s and holds %zu it should not", s->name,
                    c.missing, c.missing == 1 ? "" : "s", c.unwanted);
        else if (c.missing)
            r = say(out, "set %s lacks %zu element%s", s->name, c.missing,
                    c.missing == 1 ? "" : "s");
        else if (c.unwanted)
            r = say(out, "set %s holds %zu element%s it should not", s->name, c.unwanted,
                    c.unwanted == 1 ? "" : "s");
    }
    return r;
}

static int describe_chains(const struct tby_rs *rs, struct tby_nft_check *out)
{
    int r = 0;

    for (size_t i = 0; r == 0 && i < rs->n_chain_journal; i++) {
        const struct tby_rs_chain *c = rs->chain_journal[i];

        if (c->live && !c->prog)
            r = say(out, "chain %s is missing", c->name);
        else if (!c->live && c->prog)
            r = say(out, "chain %s is there but tabby does not want it", c->name);
        else if (c->live && c->dirty)
            r = say(out, "chain %s: its rules differ from the %zu tabby wants", c->name,
                    c->n_rules);
    }
    return r;
}

/* The nft commands that would repair the table, cut at COMMANDS_MAX on a line's end. */
static int repair_commands(const struct tby_rs *rs, struct tby_nft_check *out)
{
    _cleanup_free_ char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    int r;

    if (!f)
        return -ENOMEM;
    r = tby_rs_render_journal(rs, f);
    if (fclose(f) != 0 && r == 0)
        r = -ENOMEM;
    if (r < 0)
        return r;
    if (len > COMMANDS_MAX) {
        char *cut = memrchr(text, '\n', COMMANDS_MAX);

        len = cut ? (size_t)(cut - text) + 1 : 0;
        text[len] = '\0';
        out->commands_cut = true;
    }
    out->commands = TBY_STEAL(text);
    return 0;
}

int tby_nft_check(struct tby_nft *nft, struct tby_rs *rs, struct tby_nft_check *out,
                  struct tby_error *err)
{
    bool known = nft->known;
    int r;

    memset(out, 0, sizeof(*out));
    r = nft_read_back(nft, rs, err);
    if (r < 0) {
        nft->known = false;
        return r;
    }
    out->present = rs->table_prog;
    out->rebuild = r == 1;
    if (!out->present)
        r = say(out, "table inet %s is missing", TBY_RS_TABLE);
    else if (out->rebuild)
        r = say(out, "table inet %s holds a set or base chain tabby cannot change in place "
                "(it will be made again)", TBY_RS_TABLE);
    else
        r = describe_sets(rs, out);
    if (r == 0 && out->present && !out->rebuild)
        r = describe_chains(rs, out);
    if (r == 0 && !out->rebuild)
        r = repair_commands(rs, out);
    nft->known = known && out->differences.n == 0;
    if (r < 0) {
        tby_nft_check_clear(out);
        return tby_error_set(err, r, "out of memory");
    }
    return 0;
}

void tby_nft_check_clear(struct tby_nft_check *check)
{
    tby_strv_clear(&check->differences);
    free(check->commands);
    check->commands = NULL;
}
