/* diagnose_report.c — node diagnose's results and how they print: a block per check for
 * people (status, area/check, what was found, the details, what to do), JSON for scripts;
 * and the end of a diagnosis (diag_clear). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/array.h"
#include "tabby/cleanup.h"
#include "tabby/codec.h"
#include "diagnose.h"

/* Lines at most this wide; what a check found starts at column INDENT_COLS, its details
 * ("- ") and what to do ("do: ") under it. */
#define WIDTH 100
#define INDENT_COLS 30

static char *vformat(const char *fmt, va_list ap)
{
    char *s;

    return vasprintf(&s, fmt, ap) < 0 ? NULL : s;
}

struct diag_result *diag_add(struct diag_report *r, const char *area, const char *check,
                             enum diag_status status, const char *fmt, ...)
{
    struct diag_result *res;
    va_list ap;
    char *found;

    va_start(ap, fmt);
    found = vformat(fmt, ap);
    va_end(ap);
    if (!found || TBY_GROW(r->v, r->cap, r->n + 1) < 0) {
        free(found);
        r->oom = true;
        return NULL;
    }
    res = &r->v[r->n++];
    *res = (struct diag_result){ .area = area, .check = check, .status = status,
                                 .found = found };
    return res;
}

static void push(struct tby_strv *v, const char *fmt, va_list ap)
{
    char *s = vformat(fmt, ap);

    if (s)
        tby_strv_push_take(v, s);
}

void diag_detail(struct diag_result *res, const char *fmt, ...)
{
    va_list ap;

    if (!res)
        return;
    va_start(ap, fmt);
    push(&res->details, fmt, ap);
    va_end(ap);
}

void diag_item(struct diag_result *res, const char *fmt, ...)
{
    va_list ap;

    if (!res)
        return;
    va_start(ap, fmt);
    push(&res->items, fmt, ap);
    va_end(ap);
}

void diag_action(struct diag_result *res, const char *fmt, ...)
{
    va_list ap;

    if (!res)
        return;
    free(res->action);
    va_start(ap, fmt);
    res->action = vformat(fmt, ap);
    va_end(ap);
}

void diag_list_add(struct diag_list *l, const char *item, const char *fmt, ...)
{
    va_list ap;

    if (!l->res && !(l->res = diag_add(l->report, l->area, l->check, l->status, "%s", l->found)))
        return;
    va_start(ap, fmt);
    push(&l->res->details, fmt, ap);
    va_end(ap);
    if (!tby_strv_contains(&l->res->items, item))
        diag_item(l->res, "%s", item);
}

enum diag_status diag_worst(const struct diag_report *r)
{
    enum diag_status worst = DIAG_OK;

    for (size_t i = 0; i < r->n; i++)
        if (r->v[i].status > worst)
            worst = r->v[i].status;
    return worst;
}

const char *diag_status_name(enum diag_status status)
{
    static const char *const names[] = { "OK", "WARN", "FAIL" };

    return names[status];
}

static void counts(const struct diag_report *r, size_t out[3])
{
    out[DIAG_OK] = out[DIAG_WARN] = out[DIAG_FAIL] = 0;
    for (size_t i = 0; i < r->n; i++)
        out[r->v[i].status]++;
}

/* Prints text from the cursor on, in lines of at most WIDTH columns, the later ones
 * indented by `indent` (a word longer than a line gets one of its own). */
static void wrapped(FILE *out, int indent, const char *text)
{
    size_t room = (size_t)(WIDTH - indent), used = 0;

    text += strspn(text, " ");
    while (*text) {
        size_t word = strcspn(text, " ");

        if (used && used + 1 + word > room) {
            fprintf(out, "\n%*s", indent, "");
            used = 0;
        }
        if (used) {
            fputc(' ', out);
            used++;
        }
        fwrite(text, 1, word, out);
        used += word;
        text += word;
        text += strspn(text, " ");
    }
    fputc('\n', out);
}

int diag_print_text(FILE *out, const struct diag_report *r, const char *header)
{
    size_t n[3];

    fprintf(out, "%s\n\n", header);
    for (size_t i = 0; i < r->n; i++) {
        const struct diag_result *res = &r->v[i];
        char name[64];

        snprintf(name, sizeof(name), "%s/%s", res->area, res->check);
        fprintf(out, "%-4s  %-*s", diag_status_name(res->status), INDENT_COLS - 6, name);
        wrapped(out, INDENT_COLS, res->found);
        for (size_t k = 0; k < res->details.n; k++) {
            fprintf(out, "%*s- ", INDENT_COLS, "");
            wrapped(out, INDENT_COLS + 2, res->details.items[k]);
        }
        if (res->action) {
            fprintf(out, "%*sdo: ", INDENT_COLS, "");
            wrapped(out, INDENT_COLS + 4, res->action);
        }
    }
    counts(r, n);
    fprintf(out, "\n%zu FAIL, %zu WARN, %zu OK\n", n[DIAG_FAIL], n[DIAG_WARN], n[DIAG_OK]);
    return ferror(out) ? -EIO : 0;
}

static json_t *strv_array(const struct tby_strv *v)
{
    json_t *arr = json_array();

    for (size_t i = 0; arr && i < v->n; i++)
        json_array_append_new(arr, json_string(v->items[i]));
    return arr;
}

json_t *diag_report_json(const struct diag_report *r, const char *node)
{
    _cleanup_json_ json_t *out = json_object();
    json_t *checks = json_array();
    size_t n[3];

    if (!out || !checks) {
        json_decref(checks);
        return NULL;
    }
    counts(r, n);
    tby_enc_string(out, "node", node);
    tby_enc_string(out, "status", diag_status_name(diag_worst(r)));
    json_object_set_new(out, "counts",
                        json_pack("{s:I, s:I, s:I}", "fail", (json_int_t)n[DIAG_FAIL], "warn",
                                  (json_int_t)n[DIAG_WARN], "ok", (json_int_t)n[DIAG_OK]));
    if (json_object_set_new(out, "checks", checks) < 0)
        return NULL;
    for (size_t i = 0; i < r->n; i++) {
        const struct diag_result *res = &r->v[i];
        json_t *c = json_pack("{s:s, s:s, s:s, s:s, s:o, s:o}", "area", res->area, "check",
                              res->check, "status", diag_status_name(res->status), "found",
                              res->found, "details", strv_array(&res->details), "items",
                              strv_array(&res->items));

        if (!c || json_array_append_new(checks, c) < 0)
            return NULL;
        json_object_set_new(c, "action", res->action ? json_string(res->action) : json_null());
    }
    return TBY_STEAL(out);
}

void diag_report_clear(struct diag_report *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->v[i].found);
        free(r->v[i].action);
        tby_strv_clear(&r->v[i].details);
        tby_strv_clear(&r->v[i].items);
    }
    free(r->v);
    *r = (struct diag_report){ 0 };
}

void diag_clear(struct diag *d)
{
    diag_cluster_clear(&d->cluster);
    diag_daemon_clear(&d->daemon);
    diag_kernel_clear(&d->kernel);
    tby_routes_plan_clear(&d->plan);
    diag_report_clear(&d->report);
}

size_t diag_first_difference(const char *a, const char *b, char *line_a, char *line_b,
                             size_t size)
{
    size_t line = 1;

    while (*a || *b) {
        size_t la = strcspn(a, "\n"), lb = strcspn(b, "\n");

        if (la != lb || memcmp(a, b, la) != 0 || (a[la] == '\n') != (b[lb] == '\n')) {
            snprintf(line_a, size, "%.*s", (int)la, a);
            snprintf(line_b, size, "%.*s", (int)lb, b);
            return line;
        }
        a += la + (a[la] == '\n');
        b += lb + (b[lb] == '\n');
        line++;
    }
    return 0;
}
