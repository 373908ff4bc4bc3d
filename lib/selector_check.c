/* selector_check.c — selector strings inside resources must parse. */
#include "tabby/selector.h"
#include "selector_check.h"

int tby_check_selector(struct tby_dec *d, const char *field, const char *text)
{
    struct tby_sel *sel = NULL;
    struct tby_error perr = { 0 };

    if (!text)
        return 0;
    if (tby_sel_parse(text, &sel, &perr) < 0)
        return tby_dec_fail_at(d, field, "%s", tby_error_str(&perr));
    tby_sel_free(sel);
    return 0;
}
