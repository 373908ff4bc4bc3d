/* file.c — atomic replacement of a file (file.h): temporary file, fsync, rename, fsync of
 * the folder, so that a crash at any point leaves the old file or the new one. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tabby/buf.h"
#include "tabby/cleanup.h"
#include "tabby/file.h"

/* The rename is durable only once the folder's entry is on disk too. */
static int fsync_dir(const char *path)
{
    _cleanup_free_ char *copy = strdup(path);
    _cleanup_close_ int fd = -1;

    if (!copy)
        return -ENOMEM;
    fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) < 0)
        return -errno;
    return 0;
}

int tby_file_write_temp(const char *path, const void *data, size_t len, mode_t mode,
                        char **tmp_out, struct tby_error *err)
{
    _cleanup_free_ char *tmp = NULL;
    _cleanup_close_ int fd = -1;
    const char *bytes = data;
    size_t done = 0;

    *tmp_out = NULL;
    if (asprintf(&tmp, "%s.tmp.XXXXXX", path) < 0)
        return tby_error_set(err, -ENOMEM, "out of memory");
    fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return tby_error_set(err, -errno, "%s: %s", tmp, strerror(errno));
    while (done < len) {
        ssize_t n = write(fd, bytes + done, len - done);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break;
        done += (size_t)n;
    }
    if (done < len || fchmod(fd, mode) < 0 || fsync(fd) < 0) {
        int e = errno ? errno : EIO;

        unlink(tmp);
        return tby_error_set(err, -e, "%s: %s", tmp, strerror(e));
    }
    *tmp_out = TBY_STEAL(tmp);
    return 0;
}

int tby_file_commit(const char *tmp, const char *path, struct tby_error *err)
{
    if (rename(tmp, path) < 0) {
        int e = errno;

        unlink(tmp);
        return tby_error_set(err, -e, "%s: %s", path, strerror(e));
    }
    fsync_dir(path);
    return 0;
}

int tby_file_replace(const char *path, const void *data, size_t len, mode_t mode,
                     struct tby_error *err)
{
    _cleanup_free_ char *tmp = NULL;
    int r = tby_file_write_temp(path, data, len, mode, &tmp, err);

    return r < 0 ? r : tby_file_commit(tmp, path, err);
}

bool tby_file_same(const char *path, const void *data, size_t len, mode_t mode)
{
    _cleanup_free_ char *old = NULL;
    size_t old_len = 0;
    struct stat st;

    if (stat(path, &st) < 0 || (st.st_mode & 07777) != mode || (size_t)st.st_size != len)
        return false;
    if (tby_read_file(path, len + 1, &old, &old_len) < 0)
        return false;
    return old_len == len && memcmp(old, data, len) == 0;
}
