/* file.h — replacing a file atomically: the new content goes to a temporary file beside
 * it (same folder, so the same filesystem), is flushed to disk, and is renamed over the
 * old one. A reader (BIRD at restart, a container runtime executing a CNI plugin,
 * a plugin reading its kubeconfig) sees the old file or the new one, never half of one.
 *
 * Owns nothing; the temporary file's name handed out is malloc'd and the caller's. Errors
 * name the file; on failure no temporary file is left behind.
 */
#ifndef TABBY_FILE_H
#define TABBY_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "tabby/error.h"

/* Writes `len` bytes to a new file "<path>.tmp.XXXXXX" with `mode`, flushed (fsync);
 * *tmp names it. For callers that look at the file before it takes `path`'s place. */
int tby_file_write_temp(const char *path, const void *data, size_t len, mode_t mode,
                        char **tmp, struct tby_error *err);

/* Renames `tmp` over `path` and flushes the folder; removes `tmp` when that fails. */
int tby_file_commit(const char *tmp, const char *path, struct tby_error *err);

/* Both: `path` now holds `data`, with `mode`. */
int tby_file_replace(const char *path, const void *data, size_t len, mode_t mode,
                     struct tby_error *err);

/* Whether `path` holds exactly `data` with permission bits `mode` (false when it cannot
 * be read): lets a writer leave an up-to-date file alone. */
bool tby_file_same(const char *path, const void *data, size_t len, mode_t mode);

#endif
