/* settings.c — the datastore a program uses when it is not told one. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/buf.h"
#include "tabby/cleanup.h"
#include "tabby/settings.h"
#include "tabby/yaml.h"

/* The file holds one line; anything this large is not it. */
#define MAX_CONFIG (64 << 10)

const char *tby_settings_path(void)
{
    const char *path = getenv("TABBY_CONFIG");

    return path && *path ? path : TBY_SETTINGS_PATH;
}

/* The config file is YAML: `store: URI`. *out stays NULL when the file or line is absent. */
static int read_config(const char *path, char **out, struct tby_error *err)
{
    _cleanup_free_ char *text = NULL;
    struct tby_yaml_docs docs = { 0 };
    const json_t *store;
    size_t len = 0;
    int r = tby_read_file(path, MAX_CONFIG, &text, &len);

    if (r == -ENOENT)
        return 0;
    if (r == -EFBIG)
        return tby_error_set(err, r, "%s: larger than %d KiB", path, MAX_CONFIG >> 10);
    if (r < 0)
        return tby_error_set(err, r, "%s: %s", path, strerror(-r));
    r = tby_yaml_load(text, len, path, &docs, err);
    if (r < 0)
        return r;
    store = json_object_get(json_array_get(docs.docs, 0), "store");
    if (store && !json_is_string(store))
        r = tby_error_set(err, -EINVAL, "%s: store: must be a string such as "
                          "sqlite:/var/lib/tabby/tabby.db", path);
    else if (store && !(*out = strdup(json_string_value(store))))
        r = tby_error_set(err, -ENOMEM, "out of memory");
    tby_yaml_docs_clear(&docs);
    return r;
}

int tby_settings_store_uri(char **out, struct tby_error *err)
{
    const char *env = getenv("TABBY_STORE");
    int r;

    *out = NULL;
    if (env && *env)
        *out = strdup(env);
    else if ((r = read_config(tby_settings_path(), out, err)) < 0)
        return r;
    else if (!*out)
        *out = strdup(TBY_DEFAULT_STORE);
    return *out ? 0 : tby_error_set(err, -ENOMEM, "out of memory");
}
