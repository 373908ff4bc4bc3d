/* store_etcd_watch.c — watches on etcd: a thread per watch reads etcd's event stream and
 * queues the events for tby_watch_next; an eventfd tells poll loops that some wait.
 *
 * The stream (POST /v3/watch) sends one JSON object per line. When it breaks, the thread
 * connects again (to the next endpoint, after a growing pause) from the first revision
 * it has not received, so no event is lost or repeated. Each connection asks for one
 * revision earlier than it needs and drops that revision's events: etcd accepts a watch
 * from exactly its compaction revision although that revision's deletes are gone, while
 * asking one earlier makes etcd refuse (compact_revision), which becomes -ESTALE.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "tabby/cleanup.h"
#include "tabby/log.h"
#include "etcd_codec.h"
#include "store_etcd.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
/* etcd's answers are at most a few MiB; a longer line means a broken stream. */
#define MAX_LINE_BYTES (64u << 20)

/* What one line of the stream means for the connection. */
enum line_outcome {
    LINE_OK,        /* go on reading */
    LINE_RECONNECT, /* end this connection and open another */
    LINE_FINAL,     /* the watch is over: w->error says why */
};

struct etcd_watch {
    struct tby_watch base; /* base.next_rev: the next revision handed to the caller */
    char *prefix;          /* for messages */
    json_t *key;           /* the watched range, as etcd wants it */
    json_t *range_end;
    int event_fd;

    /* The thread's own; read-only for others. */
    struct etcd_client client;
    CURLM *multi;
    pthread_t thread;
    bool thread_started;
    atomic_bool stop;
    int64_t resume_rev;      /* the first revision not received yet */
    struct tby_buf line;     /* the stream's current, incomplete line */
    enum line_outcome outcome;
    bool created; /* this connection's watch was accepted by etcd */
    bool lost;    /* a break was logged and no connection has worked since */

    /* Shared with the caller's thread, under `lock`. */
    pthread_mutex_t lock;
    struct tby_event_list queue;
    int error; /* the watch ended: reported once the queue is empty */
    char error_msg[TBY_ERROR_MAX];
};

static struct etcd_watch *to_watch(struct tby_watch *w)
{
    return (struct etcd_watch *)w;
}

static void wake(struct etcd_watch *w)
{
    uint64_t one = 1;

    if (write(w->event_fd, &one, sizeof(one)) < 0) {
        /* EAGAIN: the counter is full, so the fd is readable anyway. */
    }
}

/* Ends the watch with an error, which tby_watch_next reports after the queued events. */
static enum line_outcome finish(struct etcd_watch *w, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static enum line_outcome finish(struct etcd_watch *w, int code, const char *fmt, ...)
{
    va_list ap;

    pthread_mutex_lock(&w->lock);
    w->error = code;
    va_start(ap, fmt);
    vsnprintf(w->error_msg, sizeof(w->error_msg), fmt, ap);
    va_end(ap);
    pthread_mutex_unlock(&w->lock);
    wake(w);
    return LINE_FINAL;
}

/* ---- reading the stream (the thread) --------------------------------------------- */

static int parse_event(const json_t *ev, struct tby_event_list *list, int64_t *rev)
{
    const char *type = json_string_value(json_object_get(ev, "type"));
    struct tby_kv kv;
    int r = etcd_kv_from_json(json_object_get(ev, "kv"), &kv);

    if (r < 0)
        return r;
    *rev = kv.mod_rev;
    r = tby_event_list_push(list, type && strcmp(type, "DELETE") == 0 ? TBY_EVENT_DELETE
                                                                      : TBY_EVENT_PUT, &kv);
    if (r < 0)
        tby_kv_clear(&kv);
    return r;
}

/* Moves every event of `from` to the end of `to`; on failure the rest stay in `from`. */
static int move_events(struct tby_event_list *from, struct tby_event_list *to)
{
    size_t i;
    int r = 0;

    if (to->n == 0) {
        free(to->items);
        *to = *from;
        memset(from, 0, sizeof(*from));
        return 0;
    }
    for (i = 0; i < from->n && r == 0; i++)
        r = tby_event_list_push(to, from->items[i].type, &from->items[i].kv);
    if (r < 0) {
        i--; /* the one that failed stays */
        memmove(from->items, from->items + i, (from->n - i) * sizeof(*from->items));
        from->n -= i;
        return r;
    }
    tby_event_list_clear(from);
    return 0;
}

static enum line_outcome take_events(struct etcd_watch *w, const json_t *events)
{
    struct tby_event_list got = { 0 };
    const json_t *ev;
    int64_t rev = 0;
    size_t i;
    int r = 0;

    json_array_foreach(events, i, ev) {
        r = parse_event(ev, &got, &rev);
        if (r < 0)
            break;
        /* The revision before resume_rev was asked for only to detect compaction. */
        if (rev < w->resume_rev)
            tby_kv_clear(&got.items[--got.n].kv);
    }
    if (r == 0 && rev >= w->resume_rev)
        w->resume_rev = rev + 1;
    if (r == 0 && got.n > 0) {
        pthread_mutex_lock(&w->lock);
        r = move_events(&got, &w->queue);
        pthread_mutex_unlock(&w->lock);
        wake(w);
    }
    tby_event_list_clear(&got);
    if (r == -ENOMEM)
        return finish(w, r, "watch %s: out of memory", w->prefix);
    if (r < 0)
        return finish(w, -EIO, "watch %s: etcd %s sent a malformed event", w->prefix,
                      etcd_client_endpoint(&w->client));
    return LINE_OK;
}

/* An error etcd put in the stream, or the reason it cancelled the watch. */
static enum line_outcome stream_error(struct etcd_watch *w, long code, const char *msg)
{
    int r = etcd_grpc_errno(w->client.cfg, code, msg);

    if (r == ETCD_RETRY_AUTH) {
        tby_log(TBY_LOG_DEBUG, "etcd", "watch token refused, authenticating again prefix=%s",
                w->prefix);
        etcd_client_drop_token(&w->client);
        return LINE_RECONNECT;
    }
    if (r == -EAGAIN)
        return LINE_RECONNECT;
    return finish(w, r, "watch %s: etcd %s: %s", w->prefix, etcd_client_endpoint(&w->client),
                  msg);
}

static enum line_outcome cancelled(struct etcd_watch *w, const json_t *result)
{
    int64_t compact_rev = 0;
    const char *reason = json_string_value(json_object_get(result, "cancel_reason"));

    etcd_get_int64(result, "compact_revision", &compact_rev);
    if (compact_rev > 0)
        return finish(w, -ESTALE,
                      "watch %s from revision %" PRId64 ": compacted (etcd compacted up to "
                      "revision %" PRId64 ")",
                      w->prefix, w->resume_rev, compact_rev);
    return stream_error(w, 0, reason ? reason : "watch cancelled");
}

/* Errors come as {"error": {"grpc_code": N, "message": …}} inside a stream, or as
 * {"error": "…", "code": N} when etcd refused the request outright. */
static enum line_outcome error_line(struct etcd_watch *w, const json_t *error, const json_t *j)
{
    const char *msg = json_string_value(error);
    json_int_t code = json_integer_value(json_object_get(j, "code"));

    if (!msg) {
        msg = json_string_value(json_object_get(error, "message"));
        code = json_integer_value(json_object_get(error, "grpc_code"));
    }
    return stream_error(w, (long)code, msg ? msg : "unknown error");
}

static enum line_outcome handle_line(struct etcd_watch *w, const char *text, size_t len)
{
    _cleanup_json_ json_t *j = json_loadb(text, len, 0, NULL);
    const json_t *result = json_object_get(j, "result");
    const json_t *error = json_object_get(j, "error");

    if (!j)
        return LINE_RECONNECT; /* a garbled stream: start a clean one */
    if (error)
        return error_line(w, error, j);
    if (!result)
        return LINE_OK;
    if (etcd_get_bool(result, "canceled"))
        return cancelled(w, result);
    if (etcd_get_bool(result, "created") && !w->created) {
        w->created = true;
        if (w->lost)
            tby_log(TBY_LOG_INFO, "etcd", "watch stream back prefix=%s endpoint=%s rev=%" PRId64,
                    w->prefix, etcd_client_endpoint(&w->client), w->resume_rev);
        w->lost = false;
    }
    return take_events(w, json_object_get(result, "events"));
}

/* curl hands the stream over in arbitrary pieces; lines are handled once complete. */
static size_t on_bytes(const char *data, size_t len, void *userdata)
{
    struct etcd_watch *w = userdata;

    for (size_t done = 0; done < len;) {
        const char *nl = memchr(data + done, '\n', len - done);
        size_t piece = nl ? (size_t)(nl - (data + done)) : len - done;

        if (tby_buf_add(&w->line, data + done, piece) < 0) {
            w->outcome = finish(w, -EIO, "watch %s: etcd %s sent an overlong line", w->prefix,
                                etcd_client_endpoint(&w->client));
            return 0;
        }
        done += piece + (nl != NULL);
        if (!nl)
            break;
        w->outcome = handle_line(w, w->line.data, w->line.len);
        tby_buf_reset(&w->line);
        if (w->outcome != LINE_OK)
            return 0;
    }
    return len;
}

static json_t *watch_request(struct etcd_watch *w)
{
    int64_t start = w->resume_rev > 1 ? w->resume_rev - 1 : 1;

    return json_pack("{s:{s:O, s:O, s:o}}", "create_request", "key", w->key, "range_end",
                     w->range_end, "start_revision", etcd_json_int64(start));
}

/* One connection, until it ends. */
static int stream_once(struct etcd_watch *w, struct tby_error *err)
{
    _cleanup_json_ json_t *req = watch_request(w);

    if (!req)
        return tby_error_set(err, -ENOMEM, "out of memory");
    tby_buf_reset(&w->line);
    w->outcome = LINE_OK;
    w->created = false;
    return etcd_stream(&w->client, "/v3/watch", req, on_bytes, w, err);
}

/* Sleeps, waking early when the watch is being freed. */
static void pause_ms(struct etcd_watch *w, long ms)
{
    int64_t end = tby_monotonic_ms() + ms;

    for (int64_t left = ms; left > 0 && !atomic_load(&w->stop);) {
        curl_multi_poll(w->multi, NULL, 0, (int)left, NULL);
        left = end - tby_monotonic_ms();
    }
}

/* The first break after a working connection is a warning; the failed retries that
 * follow are debug noise. */
static void log_break(struct etcd_watch *w, const struct tby_error *err)
{
    const char *why = err->code ? tby_error_str(err) : "the stream ended";

    tby_log(w->lost ? TBY_LOG_DEBUG : TBY_LOG_WARNING, "etcd",
            "watch stream lost, reconnecting prefix=%s rev=%" PRId64 " error=\"%s\"", w->prefix,
            w->resume_rev, why);
    w->lost = true;
}

static void *watch_main(void *arg)
{
    struct etcd_watch *w = arg;
    long backoff = BACKOFF_MIN_MS;

    while (!atomic_load(&w->stop)) {
        struct tby_error err = { 0 };
        int r = stream_once(w, &err);

        if (w->outcome == LINE_FINAL || r == -ECANCELED || atomic_load(&w->stop))
            break;
        if (r < 0 && r != -EAGAIN) {
            finish(w, r, "watch %s: %s", w->prefix, tby_error_str(&err));
            break;
        }
        if (w->created)
            backoff = BACKOFF_MIN_MS;
        log_break(w, &err);
        pause_ms(w, backoff);
        backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
    }
    return NULL;
}

/* ---- the caller's side ------------------------------------------------------------ */

static int ew_fd(struct tby_watch *base)
{
    return to_watch(base)->event_fd;
}

/* Moves the queued events to `out`; or, once none are left, the watch's final error. */
static int take_queue(struct etcd_watch *w, struct tby_event_list *out, struct tby_error *err)
{
    size_t before = out->n;
    int r;

    pthread_mutex_lock(&w->lock);
    r = move_events(&w->queue, out);
    if (r == 0 && out->n == before && w->error)
        r = tby_error_set(err, w->error, "%s", w->error_msg);
    else if (r < 0)
        tby_error_set(err, r, "watch %s: out of memory", w->prefix);
    pthread_mutex_unlock(&w->lock);
    if (out->n > before)
        w->base.next_rev = out->items[out->n - 1].kv.mod_rev + 1;
    return r;
}

static int ew_next(struct tby_watch *base, struct tby_event_list *out, int timeout_ms,
                   struct tby_error *err)
{
    struct etcd_watch *w = to_watch(base);
    int64_t deadline = timeout_ms < 0 ? INT64_MAX : tby_monotonic_ms() + timeout_ms;
    size_t before = out->n;

    for (;;) {
        struct pollfd pfd = { .fd = w->event_fd, .events = POLLIN };
        uint64_t count;
        int64_t left;
        int r;

        /* Drain first: an event queued after this wakes the fd again. */
        if (read(w->event_fd, &count, sizeof(count)) < 0 && errno != EAGAIN)
            return tby_error_set(err, -errno, "watch %s: eventfd: %s", w->prefix,
                                 strerror(errno));
        r = take_queue(w, out, err);
        if (r < 0 || out->n > before)
            return r;
        left = deadline - tby_monotonic_ms();
        if (left <= 0)
            return 0;
        if (poll(&pfd, 1, left > INT32_MAX ? -1 : (int)left) < 0 && errno != EINTR)
            return tby_error_set(err, -errno, "watch %s: poll: %s", w->prefix,
                                 strerror(errno));
    }
}

static void ew_free(struct tby_watch *base)
{
    struct etcd_watch *w = to_watch(base);

    atomic_store(&w->stop, true);
    if (w->thread_started) {
        curl_multi_wakeup(w->multi);
        pthread_join(w->thread, NULL);
    }
    etcd_client_clear(&w->client);
    if (w->multi)
        curl_multi_cleanup(w->multi);
    if (w->event_fd >= 0)
        close(w->event_fd);
    pthread_mutex_destroy(&w->lock);
    tby_event_list_clear(&w->queue);
    json_decref(w->key);
    json_decref(w->range_end);
    tby_buf_clear(&w->line);
    free(w->prefix);
    free(w);
}

static const struct tby_watch_ops etcd_watch_ops = {
    .fd = ew_fd,
    .next = ew_next,
    .free = ew_free,
};

/* The thread takes no signals: they stay with the program's own threads. */
static int start_thread(struct etcd_watch *w)
{
    sigset_t all, old;
    int r;

    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    r = pthread_create(&w->thread, NULL, watch_main, w);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    w->thread_started = r == 0;
    return -r;
}

static int watch_init(struct etcd_watch *w, const struct etcd_config *cfg, size_t endpoint,
                      const char *prefix, struct tby_error *err)
{
    int r = etcd_client_init(&w->client, cfg, err);

    if (r < 0)
        return r;
    w->client.current = endpoint;
    w->client.stop = &w->stop;
    w->client.multi = w->multi = curl_multi_init();
    w->prefix = strdup(prefix);
    w->event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (w->event_fd < 0)
        return tby_error_set(err, -errno, "watch %s: eventfd: %s", prefix, strerror(errno));
    if (!w->multi || !w->prefix || etcd_prefix_range(prefix, &w->key, &w->range_end) < 0)
        return tby_error_set(err, -ENOMEM, "out of memory");
    r = start_thread(w);
    if (r < 0)
        return tby_error_set(err, r, "watch %s: starting a thread: %s", prefix, strerror(-r));
    return 0;
}

int etcd_watch_open(const struct etcd_config *cfg, size_t endpoint, const char *prefix,
                    int64_t from_rev, struct tby_watch **out, struct tby_error *err)
{
    struct etcd_watch *w = calloc(1, sizeof(*w));
    int r;

    if (!w)
        return tby_error_set(err, -ENOMEM, "out of memory");
    w->base.ops = &etcd_watch_ops;
    w->base.next_rev = from_rev;
    w->resume_rev = from_rev;
    w->event_fd = -1;
    w->line.max = MAX_LINE_BYTES;
    atomic_init(&w->stop, false);
    pthread_mutex_init(&w->lock, NULL);
    r = watch_init(w, cfg, endpoint, prefix, err);
    if (r < 0) {
        ew_free(&w->base);
        return r;
    }
    *out = &w->base;
    return 0;
}
