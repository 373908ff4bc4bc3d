/* yaml_scalar.h — inside the yaml module: what a scalar's text means. Shared by the
 * reader (yaml.c) and the writer (yaml_dump.c) so that the writer quotes exactly the
 * strings the reader would take for something else. Nothing here allocates for the
 * caller. The rules are listed in tabby/yaml.h. */
#ifndef TABBY_YAML_SCALAR_H
#define TABBY_YAML_SCALAR_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

enum tby_yaml_kind { TBY_YAML_STRING, TBY_YAML_NULL, TBY_YAML_BOOL, TBY_YAML_INT, TBY_YAML_REAL };

struct tby_yaml_scalar {
    enum tby_yaml_kind kind;
    bool boolean;
    json_int_t integer;
    double real;
    const char *why; /* set when the text cannot become a JSON value */
};

/* What an untagged plain scalar means: 0 with `out` set, -EINVAL with out->why (a number
 * JSON cannot hold), or -ENOMEM. */
int tby_yaml_resolve_plain(const char *s, size_t n, struct tby_yaml_scalar *out);

/* What a scalar tagged !!str, !!null, !!bool, !!int or !!float (`want`) means, in any
 * quoting style: 0, or -EINVAL when the text does not fit the tag, or -ENOMEM. */
int tby_yaml_resolve_tagged(enum tby_yaml_kind want, const char *s, size_t n,
                            struct tby_yaml_scalar *out);

/* Whether the string written as a plain scalar reads back as the same string, here and
 * in YAML 1.1 readers. Syntax (": ", leading indicators, ...) is libyaml's business. */
bool tby_yaml_plain_reads_back(const char *s, size_t n);

/* The shortest text that reads back as `v`, always with a '.' so it stays a real. */
void tby_yaml_format_real(double v, char *buf, size_t size);

#endif
