/* bird_apply.c — putting a new configuration in force without ever leaving BIRD (or the
 * file it restarts from) with one it refused. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tabby/bird.h"
#include "tabby/buf.h"
#include "tabby/cleanup.h"
#include "tabby/file.h"
#include "tabby/log.h"

#define CONFIG_MAX (256 * 1024 * 1024)

/* The file as it is, or NULL (*len 0) when it does not exist. */
static int read_file(const char *path, char **out, size_t *len, struct tby_error *err)
{
    int r = tby_read_file(path, CONFIG_MAX, out, len);

    if (r == -ENOENT) {
        *len = 0;
        return 0;
    }
    if (r == -EFBIG)
        return tby_error_set(err, r, "%s: cannot read it whole", path);
    if (r < 0)
        return tby_error_set(err, r, "%s: %s", path, strerror(-r));
    return 0;
}

/* Atomically replaces `path` with `text` after BIRD accepted it (check_first). */
static int replace_file(struct tby_bird *bird, const char *path, const char *text, size_t len,
                        bool check_first, struct tby_error *err)
{
    _cleanup_free_ char *tmp = NULL;
    int r = tby_file_write_temp(path, text, len, 0644, &tmp, err);

    if (r < 0)
        return r;
    if (check_first && (r = tby_bird_configure_check(bird, tmp, err)) < 0) {
        unlink(tmp);
        return r;
    }
    return tby_file_commit(tmp, path, err);
}

/* BIRD took the check but not the load (it was shutting down, say): put the old text back
 * so the file matches what BIRD runs and the next apply tries again. */
static void restore(struct tby_bird *bird, const char *path, const char *old, size_t old_len)
{
    struct tby_error e = { 0 };

    if (!old ? unlink(path) < 0 : replace_file(bird, path, old, old_len, false, &e) < 0)
        tby_log(TBY_LOG_ERROR, "bgp", "restoring the BIRD configuration failed path=%s "
                "error=\"%s\"", path, tby_error_str(&e));
}

int tby_bird_apply(struct tby_bird *bird, const char *config_path, const char *text, size_t len,
                   bool *changed, struct tby_error *err)
{
    _cleanup_free_ char *old = NULL;
    size_t old_len;
    int r = read_file(config_path, &old, &old_len, err);

    if (changed)
        *changed = false;
    if (r < 0)
        return r;
    if (old && old_len == len && memcmp(old, text, len) == 0)
        return 0;
    r = replace_file(bird, config_path, text, len, true, err);
    if (r < 0)
        return tby_error_prefix(err, "%s", config_path);
    r = tby_bird_configure(bird, config_path, err);
    if (r < 0) {
        restore(bird, config_path, old, old_len);
        return tby_error_prefix(err, "%s", config_path);
    }
    if (changed)
        *changed = true;
    return 0;
}
