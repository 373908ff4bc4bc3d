/* cni_delegate.c — running a delegated plugin (see cni_delegate.h). posix_spawn rather
 * than fork: the plugin runs once per pod, and spawning copies no page tables. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tabby/buf.h"
#include "tabby/cleanup.h"
#include "cni_delegate.h"

#define MAX_ANSWER (1 << 20)

extern char **environ;

int cni_delegate_find(const char *type, const char *cni_path, char **out)
{
    _cleanup_free_ char *dirs = strdup(cni_path ? cni_path : "");
    char *save = NULL;

    if (!type || !*type || strchr(type, '/'))
        return -EINVAL;
    if (!dirs)
        return -ENOMEM;
    for (char *dir = strtok_r(dirs, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
        char *path;

        if (asprintf(&path, "%s/%s", dir, type) < 0)
            return -ENOMEM;
        if (access(path, X_OK) == 0) {
            *out = path;
            return 0;
        }
        free(path);
    }
    return -ENOENT;
}

/* Our environment with CNI_COMMAND replaced. Only the array is new: free it alone. */
static char **child_env(const char *command_var)
{
    size_t n = 0, k = 0;
    char **env;

    while (environ[n])
        n++;
    env = calloc(n + 2, sizeof(*env));
    if (!env)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "CNI_COMMAND=", 12) != 0)
            env[k++] = environ[i];
    env[k] = (char *)command_var;
    return env;
}

struct child {
    pid_t pid;
    int in;     /* its standard input (our write end) */
    int out;    /* its standard output (our read end) */
};

static int spawn(const char *path, const char *command, struct child *c)
{
    _cleanup_free_ char *command_var = NULL;
    _cleanup_free_ char **env = NULL;
    int in[2] = { -1, -1 }, out[2] = { -1, -1 }, r = -ENOMEM;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t dflt;

    if (asprintf(&command_var, "CNI_COMMAND=%s", command) < 0 ||
        !(env = child_env(command_var)))
        return -ENOMEM;
    /* Our end of its input does not block: exchange() polls both ends. */
    if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 ||
        fcntl(in[1], F_SETFL, O_NONBLOCK) < 0) {
        r = -errno;
        goto out;
    }
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&fa, out[1], STDOUT_FILENO);
    posix_spawnattr_init(&attr);
    sigemptyset(&dflt);
    sigaddset(&dflt, SIGPIPE);
    posix_spawnattr_setsigdefault(&attr, &dflt);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF);
    r = -posix_spawn(&c->pid, path, &fa, &attr, (char *[]){ (char *)path, NULL }, env);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
out:
    if (in[0] >= 0)
        close(in[0]);
    if (out[1] >= 0)
        close(out[1]);
    c->in = in[1];
    c->out = out[0];
    if (r < 0) {
        if (c->in >= 0)
            close(c->in);
        if (c->out >= 0)
            close(c->out);
    }
    return r;
}

/* Feeds the input and collects the answer at once, so that a plugin that answers before
 * it has read everything cannot block either side. */
static int exchange(struct child *c, const char *conf, size_t len, struct tby_buf *answer)
{
    size_t sent = 0;
    int r = 1;

    while (r > 0) {
        struct pollfd p[2] = { { c->out, POLLIN, 0 }, { c->in, POLLOUT, 0 } };

        if (poll(p, c->in >= 0 ? 2 : 1, -1) < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (c->in >= 0 && p[1].revents) {
            ssize_t n = write(c->in, conf + sent, len - sent);

            /* EPIPE: it stopped reading, which is its business; its answer says more. */
            if (n > 0)
                sent += (size_t)n;
            if (n < 0 ? errno != EINTR && errno != EAGAIN : sent == len) {
                close(c->in);
                c->in = -1;
            }
        }
        if (p[0].revents) {
            ssize_t got = tby_buf_read_fd(answer, c->out);

            r = got > 0 ? 1 : (int)got;
        }
    }
    return r;
}

static int wait_child(pid_t pid, int *status)
{
    while (waitpid(pid, status, 0) < 0)
        if (errno != EINTR)
            return -errno;
    return 0;
}

/* A failed plugin's error document: its code and message go to the runtime. */
static int plugin_error(const char *type, int status, const struct tby_buf *answer,
                        struct cni_failure *f)
{
    _cleanup_json_ json_t *doc = answer->len ? json_loads(answer->data, 0, NULL) : NULL;
    const json_t *code = json_object_get(doc, "code");
    const char *msg = json_string_value(json_object_get(doc, "msg"));
    const char *details = json_string_value(json_object_get(doc, "details"));

    if (json_is_integer(code) && msg)
        return cni_fail(f, (int)json_integer_value(code), "%s: %s%s%s", type, msg,
                        details && *details ? ": " : "", details ? details : "");
    if (WIFSIGNALED(status))
        return cni_fail(f, CNI_ERR_IO, "%s was killed by signal %d", type, WTERMSIG(status));
    return cni_fail(f, CNI_ERR_IO, "%s failed (exit status %d) without a CNI error on its "
                    "standard output", type, WEXITSTATUS(status));
}

static int plugin_answer(const char *type, const struct tby_buf *answer, json_t **out,
                         struct cni_failure *f)
{
    json_error_t jerr;

    *out = NULL;
    if (answer->len == 0)
        return 0;
    *out = json_loadb(answer->data, answer->len, 0, &jerr);
    if (json_is_object(*out))
        return 0;
    json_decref(*out);
    *out = NULL;
    return cni_fail(f, CNI_ERR_DECODE, "%s answered something that is not a JSON object: %s",
                    type, jerr.text);
}

static int run(const char *type, const char *path, const char *command, const char *conf,
               size_t len, json_t **out, struct cni_failure *f)
{
    struct child c = { -1, -1, -1 };
    _cleanup_buf_ struct tby_buf answer = { .max = MAX_ANSWER };
    int status = 0, r = spawn(path, command, &c);

    if (r < 0)
        return cni_fail(f, CNI_ERR_IO, "cannot run %s: %s", path, strerror(-r));
    r = exchange(&c, conf, len, &answer);
    if (c.in >= 0)
        close(c.in);
    close(c.out);
    if (wait_child(c.pid, &status) < 0 && r == 0)
        r = -ECHILD;
    if (r < 0)
        return cni_fail(f, CNI_ERR_IO, "talking to %s: %s", type, strerror(-r));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return plugin_error(type, status, &answer, f);
    return plugin_answer(type, &answer, out, f);
}

int cni_delegate(const char *type, const char *command, const char *conf, size_t len,
                 json_t **out, struct cni_failure *f)
{
    _cleanup_free_ char *path = NULL;
    const char *cni_path = getenv("CNI_PATH");
    int r = cni_delegate_find(type, cni_path, &path);

    *out = NULL;
    if (r == -EINVAL)
        return cni_fail(f, CNI_ERR_INVALID_CONFIG, "ipam.type: \"%s\" is not a plugin name",
                        type ? type : "");
    if (r == -ENOENT)
        return cni_fail(f, CNI_ERR_INVALID_CONFIG, "ipam.type: plugin \"%s\" not found in "
                        "CNI_PATH (%s)", type, cni_path && *cni_path ? cni_path : "unset");
    if (r < 0)
        return cni_fail(f, CNI_ERR_IO, "out of memory");
    return run(type, path, command, conf, len, out, f);
}
