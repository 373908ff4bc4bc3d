/* kube_informer.c — reflectors (list, then watch, for ever) for many resource types,
 * driven by one thread through one curl multi handle, delivering changes through a queue
 * and an eventfd to the caller's poll loop.
 *
 * Each reflector is a small state machine with at most one transfer in the multi
 * handle: a list page, or a watch stream. When a transfer ends, the reflector decides
 * what comes next and when (now, after a backoff pause, after a Retry-After), and the
 * loop starts it when its time comes. Watch bytes are split into events as they arrive
 * and turned into changes at once, so memory holds one event at a time, not a stream.
 *
 * Consistency rests on the known map (kube_known.c): every list, first or after a 410,
 * is diffed against what was delivered, and watch events are checked against it, so
 * what the caller has always equals what the server had at some resourceVersion, once
 * it applies a listing's changes whole (up to its SYNCED or RELISTED). A list page's
 * changes are delivered as the page arrives and its JSON is then the caller's alone, so
 * a listing is never held parsed here all at once.
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "tabby/array.h"
#include "tabby/cleanup.h"
#include "tabby/kube_informer.h"
#include "tabby/kube_watch.h"
#include "tabby/log.h"
#include "kube_client.h"
#include "kube_known.h"

#define DEFAULT_WATCH_TIMEOUT_S 300
/* The client's own limit on a watch, past the server's timeoutSeconds. */
#define WATCH_GRACE_S 30
/* A watch the server ends sooner than this, with nothing in it, counts as a failure. */
#define SHORT_WATCH_MS 1000
/* Without Retry-After a 429 waits this long. */
#define DEFAULT_RETRY_AFTER_MS 1000
/* A snapshot forgotten between pages is listed again at once this often, then after
 * pauses. */
#define LIST_RESTARTS 3
#define LOOP_MAX_WAIT_MS 1000
/* A listing's next page waits while the caller has more changes than this to take (so a
 * listing is never held parsed whole in the queue when the caller is slower), checking
 * again after LIST_PAUSE_MS. */
#define LIST_QUEUE_MAX 1000
#define LIST_PAUSE_MS 2

enum phase {
    IDLE,     /* waiting for wake_ms */
    LISTING,  /* a list page is in flight */
    WATCHING, /* a watch is open */
};

/* How a watch's bytes ended it (set by the write callback). */
enum outcome {
    GO_ON,
    RELIST, /* an ERROR event said 410: list again */
    BROKEN, /* a bad stream or another ERROR event: `why` says */
};

enum link {
    LINK_UNKNOWN,
    LINK_ONLINE,
    LINK_OFFLINE,
};

struct reflector {
    struct tby_kube_informer *inf;
    int index;
    const struct tby_kube_resource *res;
    char *ns, *label_selector, *field_selector;
    long page_size, timeout_s;
    long absent_recheck_ms; /* 0: a 404 is a failure */
    bool absent;            /* the last list answered 404 */
    char what[512]; /* "pods", "pods in default": for messages */

    CURL *easy;
    struct kube_request req;
    struct tby_buf url;
    enum phase phase;
    int64_t wake_ms;
    bool need_list;
    struct tby_buf answer; /* a list page, or a watch's refusal */

    size_t listed; /* the objects of the pages so far */
    bool listing;  /* a listing is under way (its first page asked for) */
    char *cont;
    char *list_rv;
    int list_restarts;

    char *rv; /* the last resourceVersion seen: where a watch starts */
    struct tby_kube_splitter splitter;
    int64_t watch_started_ms;
    bool watch_events;
    long watch_status; /* 0 until the first bytes came */
    enum outcome outcome;
    struct tby_error why;

    struct tby_kube_changes pending;
    struct kube_known known;
    struct tby_kube_backoff backoff;
    bool synced;
    enum link link;
};

struct tby_kube_informer {
    const struct tby_kube_config *cfg;
    struct reflector **refl;
    size_t n, cap;
    CURLM *multi;
    struct kube_token token; /* the thread's */
    pthread_t thread;
    bool started;
    atomic_bool stop;
    atomic_size_t n_synced;
    int event_fd;
    uint64_t *count_lists, *count_watches; /* the caller's; added to atomically */

    pthread_mutex_t lock; /* guards what follows */
    struct tby_kube_changes queue;
    int error;
    char error_msg[TBY_ERROR_MAX];
};

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void wake(struct tby_kube_informer *inf)
{
    uint64_t one = 1;

    if (write(inf->event_fd, &one, sizeof(one)) < 0) {
        /* EAGAIN: the counter is full, so the fd is readable anyway. */
    }
}

/* The thread cannot go on: the caller hears it after the changes already queued. */
static void fatal(struct tby_kube_informer *inf, int code, const char *msg)
{
    pthread_mutex_lock(&inf->lock);
    if (!inf->error) {
        inf->error = code;
        snprintf(inf->error_msg, sizeof(inf->error_msg), "%s", msg);
    }
    pthread_mutex_unlock(&inf->lock);
    atomic_store(&inf->stop, true);
    wake(inf);
}

/* Moves every change of `from` to the end of `to` (from is left empty). */
static int move_changes(struct tby_kube_changes *from, struct tby_kube_changes *to)
{
    if (from->n == 0)
        return 0;
    if (to->n == 0) {
        free(to->items);
        *to = *from;
        *from = (struct tby_kube_changes){ 0 };
        return 0;
    }
    if (TBY_GROW(to->items, to->cap, to->n + from->n) < 0)
        return -ENOMEM;
    memcpy(to->items + to->n, from->items, from->n * sizeof(*from->items));
    to->n += from->n;
    from->n = 0;
    return 0;
}

static void deliver(struct reflector *r)
{
    struct tby_kube_informer *inf = r->inf;
    int rc;

    if (r->pending.n == 0)
        return;
    pthread_mutex_lock(&inf->lock);
    rc = move_changes(&r->pending, &inf->queue);
    pthread_mutex_unlock(&inf->lock);
    if (rc < 0) {
        tby_kube_changes_clear(&r->pending);
        fatal(inf, -ENOMEM, "kube informer: out of memory queueing changes");
        return;
    }
    wake(inf);
}

static void push(struct reflector *r, enum tby_kube_change_type type, const char *message)
{
    if (tby_kube_changes_push(&r->pending, type, r->index, NULL, message) < 0)
        fatal(r->inf, -ENOMEM, "kube informer: out of memory");
}

static void set_link(struct reflector *r, enum link link, const char *why)
{
    if (r->link == link)
        return;
    if (link == LINK_ONLINE && r->link == LINK_OFFLINE)
        tby_log(TBY_LOG_INFO, "kube", "API server answers again resource=%s", r->what);
    else if (link == LINK_OFFLINE)
        tby_log(TBY_LOG_WARNING, "kube", "API server lost, retrying resource=%s error=\"%s\"",
                r->what, why);
    r->link = link;
    push(r, link == LINK_ONLINE ? TBY_KUBE_ONLINE : TBY_KUBE_OFFLINE, why);
    deliver(r);
}

static int set_string(char **dst, const char *src)
{
    char *copy = src ? strdup(src) : NULL;

    if (src && !copy)
        return -ENOMEM;
    free(*dst);
    *dst = copy;
    return 0;
}

/* A complete list (or a 404) has been delivered: the first, or a later one. */
static void mark_synced(struct reflector *r)
{
    if (r->synced) {
        push(r, TBY_KUBE_RELISTED, NULL);
        return;
    }
    r->synced = true;
    push(r, TBY_KUBE_SYNCED, NULL);
    atomic_fetch_add(&r->inf->n_synced, 1);
}

static void forget_list(struct reflector *r)
{
    r->listed = 0;
    r->listing = false;
    free(r->cont);
    r->cont = NULL;
    free(r->list_rv);
    r->list_rv = NULL;
}

static void schedule(struct reflector *r, long delay_ms)
{
    r->phase = IDLE;
    r->wake_ms = now_ms() + delay_ms;
}

/* A failure that calls for a pause: offline, then try again after the backoff. A list
 * starts over (its continue token may be dead too); a watch resumes from r->rv. */
static void failed(struct reflector *r, const char *why)
{
    long pause = tby_kube_backoff_next(&r->backoff);

    set_link(r, LINK_OFFLINE, why);
    tby_log(TBY_LOG_DEBUG, "kube", "retrying resource=%s in_ms=%ld error=\"%s\"", r->what, pause,
            why);
    forget_list(r);
    schedule(r, pause);
}

/* The server answered a request with an error status. */
static void refused(struct reflector *r, long status)
{
    long retry_after = kube_retry_after_ms(r->easy);
    struct tby_error err = { 0 };

    tby_kube_status_error(&err, r->what, status, r->answer.data, r->answer.len);
    if (kube_should_retry(status, retry_after)) {
        /* Overloaded, not gone: the same request again when the server asks. */
        if (retry_after < 0)
            retry_after = DEFAULT_RETRY_AFTER_MS;
        tby_log(TBY_LOG_DEBUG, "kube", "server asks to wait resource=%s ms=%ld status=%ld",
                r->what, retry_after, status);
        schedule(r, retry_after);
        return;
    }
    if (status == 401 && r->inf->cfg->token_file)
        kube_token_refresh(&r->inf->token, r->inf->cfg, true, NULL);
    failed(r, err.msg);
}

/* ---- transfers -------------------------------------------------------------------------- */

static size_t collect(char *data, size_t size, size_t n, void *userdata)
{
    struct reflector *r = userdata;

    return tby_buf_add(&r->answer, data, size * n) == 0 ? size * n : 0;
}

static int on_event(json_t *value, void *ctx, struct tby_error *err)
{
    struct reflector *r = ctx;
    struct tby_kube_event ev;
    int rc = tby_kube_event_decode(value, &ev, err);

    if (rc < 0) {
        tby_error_prefix(err, "watch %s", r->what);
        return rc;
    }
    r->watch_events = true;
    if (ev.type == TBY_KUBE_EVENT_ERROR) {
        _cleanup_free_ char *text = json_dumps(ev.object, JSON_COMPACT);

        if (tby_kube_status_is_expired(ev.object)) {
            r->outcome = RELIST;
            return -ESTALE;
        }
        tby_kube_status_error(err, r->what, 500, text, text ? strlen(text) : 0);
        return tby_error_prefix(err, "watch");
    }
    if (ev.type != TBY_KUBE_EVENT_BOOKMARK) {
        if (kube_fill_type(ev.object, r->res) < 0 ||
            kube_known_event(&r->known, &ev, r->index, &r->pending) < 0)
            return tby_error_set(err, -ENOMEM, "out of memory");
    }
    if (set_string(&r->rv, ev.resource_version) < 0)
        return tby_error_set(err, -ENOMEM, "out of memory");
    return 0;
}

static size_t watch_bytes(char *data, size_t size, size_t n, void *userdata)
{
    struct reflector *r = userdata;
    size_t len = size * n;
    int rc;

    if (r->watch_status == 0) {
        curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->watch_status);
        if (r->watch_status == 200)
            set_link(r, LINK_ONLINE, NULL);
    }
    if (r->watch_status != 200)
        return collect(data, size, n, userdata); /* a Status refusing the watch */
    rc = tby_kube_splitter_feed(&r->splitter, data, len, on_event, r, &r->why);
    deliver(r);
    if (rc < 0) {
        if (r->outcome == GO_ON)
            r->outcome = BROKEN;
        return 0;
    }
    return len;
}

static int start(struct reflector *r, const char *path, bool watch, struct tby_error *err)
{
    struct tby_kube_informer *inf = r->inf;
    int rc = kube_token_refresh(&inf->token, inf->cfg, false, err);
    uint64_t *count;

    if (rc < 0)
        return rc;
    tby_buf_reset(&r->url);
    tby_buf_printf(&r->url, "%s%s", inf->cfg->server, path);
    if (tby_buf_error(&r->url) < 0)
        return tby_error_set(err, -ENOMEM, "out of memory");
    r->req.method = "GET";
    r->req.url = r->url.data;
    r->req.stream = watch;
    if (kube_request_prepare(r->easy, &r->req, inf->cfg, &inf->token) < 0)
        return tby_error_set(err, -ENOMEM, "out of memory");
    curl_easy_setopt(r->easy, CURLOPT_PRIVATE, r);
    curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, watch ? watch_bytes : collect);
    curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
    tby_buf_reset(&r->answer);
    if (curl_multi_add_handle(inf->multi, r->easy) != CURLM_OK)
        return tby_error_set(err, -ENOMEM, "%s: cannot add a transfer", r->what);
    r->phase = watch ? WATCHING : LISTING;
    count = watch ? inf->count_watches : inf->count_lists;
    if (count)
        __atomic_add_fetch(count, 1, __ATOMIC_RELAXED);
    return 0;
}

static int start_list(struct reflector *r, struct tby_error *err)
{
    struct tby_kube_list_options opts = { r->label_selector, r->field_selector, r->page_size };
    _cleanup_buf_ struct tby_buf path = { 0 };

    if (!r->listing) {
        kube_known_list_begin(&r->known);
        r->listing = true;
    }
    kube_collection_path(&path, r->res, r->ns, &opts);
    if (r->cont)
        tby_kube_query_add(&path, "continue", r->cont);
    if (tby_buf_error(&path) < 0)
        return tby_error_set(err, -ENOMEM, "out of memory");
    return start(r, path.data, false, err);
}

static int start_watch(struct reflector *r, struct tby_error *err)
{
    struct tby_kube_list_options opts = { r->label_selector, r->field_selector, -1 };
    _cleanup_buf_ struct tby_buf path = { 0 };
    long timeout_s = r->timeout_s + (long)tby_kube_backoff_random(&r->backoff,
                                                                  (uint64_t)r->timeout_s);
    char seconds[32];

    snprintf(seconds, sizeof(seconds), "%ld", timeout_s);
    kube_collection_path(&path, r->res, r->ns, &opts);
    tby_kube_query_add(&path, "watch", "1");
    tby_kube_query_add(&path, "resourceVersion", r->rv);
    tby_kube_query_add(&path, "allowWatchBookmarks", "true");
    tby_kube_query_add(&path, "timeoutSeconds", seconds);
    if (tby_buf_error(&path) < 0)
        return tby_error_set(err, -ENOMEM, "out of memory");
    r->req.stream_timeout_ms = (timeout_s + WATCH_GRACE_S) * 1000;
    tby_kube_splitter_reset(&r->splitter);
    r->watch_started_ms = now_ms();
    r->watch_events = false;
    r->watch_status = 0;
    r->outcome = GO_ON;
    tby_error_clear(&r->why);
    return start(r, path.data, true, err);
}

static size_t queued(struct tby_kube_informer *inf)
{
    size_t n;

    pthread_mutex_lock(&inf->lock);
    n = inf->queue.n;
    pthread_mutex_unlock(&inf->lock);
    return n;
}

static void begin(struct reflector *r)
{
    struct tby_error err = { 0 };
    int rc;

    if (r->need_list && r->cont && queued(r->inf) > LIST_QUEUE_MAX) {
        schedule(r, LIST_PAUSE_MS);
        return;
    }
    rc = r->need_list ? start_list(r, &err) : start_watch(r, &err);

    if (rc == -ENOMEM)
        fatal(r->inf, rc, err.msg);
    else if (rc < 0)
        failed(r, err.msg);
}

/* ---- transfers that ended --------------------------------------------------------------- */

/* The last page came: what the listing did not name is gone, then a watch. */
static void list_complete(struct reflector *r)
{
    if (kube_known_list_end(&r->known, r->index, &r->pending) < 0) {
        fatal(r->inf, -ENOMEM, "kube informer: out of memory");
        return;
    }
    tby_log(TBY_LOG_DEBUG, "kube", "listed resource=%s objects=%zu rv=%s", r->what, r->listed,
            r->list_rv);
    free(r->rv);
    r->rv = TBY_STEAL(r->list_rv);
    forget_list(r);
    tby_buf_clear(&r->answer); /* a page's worth, not needed by a watch */
    mark_synced(r);
    deliver(r);
    r->need_list = false;
    r->list_restarts = 0;
    tby_kube_backoff_reset(&r->backoff);
    schedule(r, 0);
}

/* A page came: its objects' changes go to the caller now, and its JSON with them. */
static int list_page(struct reflector *r, json_t *page, char **next, struct tby_error *err)
{
    _cleanup_json_ json_t *items = json_array();
    int rc;

    if (!items)
        return tby_error_set(err, -ENOMEM, "out of memory");
    free(r->list_rv);
    rc = kube_list_take(page, items, &r->list_rv, next, err);
    for (size_t i = 0; rc == 0 && i < json_array_size(items); i++) {
        if (kube_fill_type(json_array_get(items, i), r->res) < 0)
            rc = tby_error_set(err, -ENOMEM, "out of memory");
    }
    if (rc == 0)
        rc = kube_known_list_page(&r->known, items, r->index, &r->pending, err);
    if (rc < 0)
        return rc;
    r->listed += json_array_size(items);
    deliver(r);
    return 0;
}

/* The type is not served (a CRD not installed): no objects, synced, and a new list after
 * a while instead of a watch. */
static void list_absent(struct reflector *r)
{
    struct tby_error err = { 0 };
    _cleanup_json_ json_t *none = json_array();

    set_link(r, LINK_ONLINE, NULL);
    forget_list(r);
    if (!none || kube_known_relist(&r->known, none, r->index, &r->pending, &err) < 0) {
        fatal(r->inf, -ENOMEM, "kube informer: out of memory");
        return;
    }
    if (!r->absent)
        tby_log(TBY_LOG_INFO, "kube", "type not served, counted as empty resource=%s "
                "recheck_s=%ld", r->what, r->absent_recheck_ms / 1000);
    if (!r->absent || !r->synced)
        mark_synced(r);
    r->absent = true;
    deliver(r);
    r->need_list = true;
    tby_kube_backoff_reset(&r->backoff);
    schedule(r, r->absent_recheck_ms);
}

static void list_done(struct reflector *r, CURLcode rc, long status)
{
    _cleanup_json_ json_t *page = NULL;
    struct tby_error err = { 0 };
    char *next = NULL;

    if (rc == CURLE_WRITE_ERROR && tby_buf_error(&r->answer) == -EFBIG) {
        tby_error_set(&err, -EFBIG, "%s: a list page larger than %u bytes (use a smaller "
                                    "page size)", r->what, KUBE_MAX_ANSWER_BYTES);
        failed(r, err.msg);
        return;
    }
    if (rc != CURLE_OK) {
        kube_transport_error(r->easy, rc, &r->req, r->inf->cfg, r->what, &err);
        failed(r, err.msg);
        return;
    }
    if (status == 410 && r->cont && r->list_restarts < LIST_RESTARTS) {
        /* The snapshot the pages came from is gone: a new one, from the first page. */
        r->list_restarts++;
        forget_list(r);
        schedule(r, 0);
        return;
    }
    if (status == 404 && r->absent_recheck_ms > 0) {
        list_absent(r);
        return;
    }
    if (status != 200) {
        refused(r, status);
        return;
    }
    r->absent = false;
    set_link(r, LINK_ONLINE, NULL);
    page = json_loadb(r->answer.data ? r->answer.data : "", r->answer.len, 0, NULL);
    tby_buf_reset(&r->answer);
    if (!page || list_page(r, page, &next, &err) < 0) {
        if (!page)
            tby_error_set(&err, -EIO, "the server's answer is not JSON");
        if (err.code == -ENOMEM) {
            fatal(r->inf, -ENOMEM, "kube informer: out of memory");
            return;
        }
        tby_error_prefix(&err, "%s", r->what);
        failed(r, err.msg);
        return;
    }
    free(r->cont);
    r->cont = next;
    if (r->cont) {
        schedule(r, 0);
    } else if (!r->list_rv) {
        failed(r, "the list has no resourceVersion");
    } else {
        list_complete(r);
    }
}

static void watch_done(struct reflector *r, CURLcode rc)
{
    struct tby_error err = { 0 };
    long status = r->watch_status;

    if (status == 0)
        curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
    if (r->outcome == RELIST || status == 410) {
        tby_log(TBY_LOG_INFO, "kube", "watch expired, listing again resource=%s rv=%s", r->what,
                r->rv);
        r->need_list = true;
        schedule(r, 0);
    } else if (r->outcome == BROKEN) {
        failed(r, r->why.msg);
    } else if (status == 404 && r->absent_recheck_ms > 0) {
        r->need_list = true; /* the type went away: its list says so */
        schedule(r, 0);
    } else if (status != 0 && status != 200) {
        refused(r, status);
    } else if (rc == CURLE_OK) {
        /* The server ended it (timeoutSeconds): at once again, unless it does that at once
         * every time. */
        bool useful = r->watch_events || now_ms() - r->watch_started_ms >= SHORT_WATCH_MS;

        if (useful)
            tby_kube_backoff_reset(&r->backoff);
        schedule(r, useful ? 0 : tby_kube_backoff_next(&r->backoff));
    } else {
        kube_transport_error(r->easy, rc, &r->req, r->inf->cfg, r->what, &err);
        failed(r, err.msg);
    }
}

static void transfer_done(struct tby_kube_informer *inf, CURL *easy, CURLcode rc)
{
    struct reflector *r;
    char *priv = NULL;
    long status = 0;

    curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
    r = (struct reflector *)(void *)priv;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    curl_multi_remove_handle(inf->multi, easy);
    if (!r)
        return;
    if (r->phase == LISTING)
        list_done(r, rc, status);
    else
        watch_done(r, rc);
}

/* ---- the thread ------------------------------------------------------------------------- */

/* A watch whose server said 200 is online, before any event comes. */
static void check_watches(struct tby_kube_informer *inf)
{
    for (size_t i = 0; i < inf->n; i++) {
        struct reflector *r = inf->refl[i];
        long status = 0;

        if (r->phase != WATCHING || r->link == LINK_ONLINE)
            continue;
        curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
        if (status == 200)
            set_link(r, LINK_ONLINE, NULL);
    }
}

/* Starts what is due; returns how long until the next is. */
static long start_due(struct tby_kube_informer *inf)
{
    int64_t now = now_ms();
    long wait = LOOP_MAX_WAIT_MS;

    for (size_t i = 0; i < inf->n && !atomic_load(&inf->stop); i++) {
        struct reflector *r = inf->refl[i];

        if (r->phase != IDLE)
            continue;
        if (r->wake_ms <= now)
            begin(r);
        if (r->phase == IDLE && r->wake_ms - now < wait)
            wait = r->wake_ms <= now ? 0 : (long)(r->wake_ms - now);
    }
    return wait;
}

static void *informer_main(void *arg)
{
    struct tby_kube_informer *inf = arg;

    while (!atomic_load(&inf->stop)) {
        long wait = start_due(inf);
        CURLMsg *msg;
        int running, left;

        if (curl_multi_perform(inf->multi, &running) != CURLM_OK) {
            fatal(inf, -EIO, "kube informer: curl_multi_perform failed");
            break;
        }
        while ((msg = curl_multi_info_read(inf->multi, &left))) {
            if (msg->msg == CURLMSG_DONE)
                transfer_done(inf, msg->easy_handle, msg->data.result);
        }
        check_watches(inf);
        for (size_t i = 0; i < inf->n; i++) {
            if (inf->refl[i]->phase == IDLE && inf->refl[i]->wake_ms <= now_ms())
                wait = 0;
        }
        if (!atomic_load(&inf->stop) && wait > 0)
            curl_multi_poll(inf->multi, NULL, 0, (int)wait, NULL);
    }
    return NULL;
}

/* ---- the caller's side ------------------------------------------------------------------ */

static void reflector_free(struct reflector *r)
{
    if (!r)
        return;
    if (r->easy) {
        if (r->phase != IDLE)
            curl_multi_remove_handle(r->inf->multi, r->easy);
        curl_easy_cleanup(r->easy);
    }
    kube_request_clear(&r->req);
    tby_buf_clear(&r->url);
    tby_buf_clear(&r->answer);
    forget_list(r);
    free(r->rv);
    tby_kube_splitter_clear(&r->splitter);
    tby_kube_changes_clear(&r->pending);
    kube_known_clear(&r->known);
    free(r->ns);
    free(r->label_selector);
    free(r->field_selector);
    free(r);
}

int tby_kube_informer_new(const struct tby_kube_config *cfg, struct tby_kube_informer **out,
                          struct tby_error *err)
{
    struct tby_kube_informer *inf;

    *out = NULL;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return tby_error_set(err, -EIO, "%s: libcurl failed to initialise", cfg->source);
    inf = calloc(1, sizeof(*inf));
    if (!inf) {
        curl_global_cleanup();
        return tby_error_set(err, -ENOMEM, "out of memory");
    }
    inf->cfg = cfg;
    inf->event_fd = -1;
    atomic_init(&inf->stop, false);
    atomic_init(&inf->n_synced, 0);
    pthread_mutex_init(&inf->lock, NULL);
    inf->multi = curl_multi_init();
    inf->event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (!inf->multi || inf->event_fd < 0) {
        int code = inf->event_fd < 0 ? -errno : -ENOMEM;

        tby_kube_informer_free(inf);
        return tby_error_set(err, code, "kube informer: %s", strerror(-code));
    }
    *out = inf;
    return 0;
}

int tby_kube_informer_add(struct tby_kube_informer *inf, const struct tby_kube_resource *res,
                          const struct tby_kube_watch_options *opts, struct tby_error *err)
{
    static const struct tby_kube_watch_options none;
    struct reflector *r;

    if (!opts)
        opts = &none;
    if (inf->started)
        return tby_error_set(err, -EBUSY, "kube informer: reflectors are added before start");
    if (TBY_GROW(inf->refl, inf->cap, inf->n + 1) < 0 || !(r = calloc(1, sizeof(*r))))
        return tby_error_set(err, -ENOMEM, "out of memory");
    r->inf = inf;
    r->index = (int)inf->n;
    r->res = res;
    r->page_size = opts->page_size;
    r->timeout_s = opts->timeout_s > 0 ? opts->timeout_s : DEFAULT_WATCH_TIMEOUT_S;
    r->absent_recheck_ms = opts->absent_recheck_s > 0 ? opts->absent_recheck_s * 1000 : 0;
    r->need_list = true;
    r->phase = IDLE;
    r->answer.max = KUBE_MAX_ANSWER_BYTES;
    tby_kube_splitter_init(&r->splitter, 0);
    kube_known_init(&r->known);
    tby_kube_backoff_init(&r->backoff, (uint64_t)now_ms() * 2654435761u + (uint64_t)r->index +
                                           (uint64_t)(uintptr_t)r);
    kube_what(r->what, sizeof(r->what), res, opts->ns, NULL);
    inf->refl[inf->n++] = r;
    r->easy = curl_easy_init();
    if (!r->easy || set_string(&r->ns, opts->ns && *opts->ns ? opts->ns : NULL) < 0 ||
        set_string(&r->label_selector, opts->label_selector) < 0 ||
        set_string(&r->field_selector, opts->field_selector) < 0)
        return tby_error_set(err, -ENOMEM, "out of memory");
    return r->index;
}

void tby_kube_informer_count(struct tby_kube_informer *inf, uint64_t *lists, uint64_t *watches)
{
    assert(!inf->started);
    inf->count_lists = lists;
    inf->count_watches = watches;
}

/* The thread takes no signals: they stay with the program's own threads. */
int tby_kube_informer_start(struct tby_kube_informer *inf, struct tby_error *err)
{
    sigset_t all, old;
    int r;

    if (inf->started)
        return tby_error_set(err, -EBUSY, "kube informer: started already");
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    r = pthread_create(&inf->thread, NULL, informer_main, inf);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (r != 0)
        return tby_error_set(err, -r, "kube informer: starting a thread: %s", strerror(r));
    inf->started = true;
    return 0;
}

int tby_kube_informer_fd(const struct tby_kube_informer *inf)
{
    return inf->event_fd;
}

int tby_kube_informer_next(struct tby_kube_informer *inf, struct tby_kube_changes *out,
                           struct tby_error *err)
{
    uint64_t count;
    int r;

    /* Drain first: a change queued after this wakes the fd again. */
    if (read(inf->event_fd, &count, sizeof(count)) < 0 && errno != EAGAIN)
        return tby_error_set(err, -errno, "kube informer: eventfd: %s", strerror(errno));
    pthread_mutex_lock(&inf->lock);
    r = move_changes(&inf->queue, out);
    if (r < 0)
        tby_error_set(err, r, "kube informer: out of memory");
    else if (inf->queue.n == 0 && inf->error)
        r = tby_error_set(err, inf->error, "%s", inf->error_msg);
    pthread_mutex_unlock(&inf->lock);
    return r;
}

bool tby_kube_informer_synced(const struct tby_kube_informer *inf)
{
    return atomic_load(&inf->n_synced) == inf->n;
}

void tby_kube_informer_free(struct tby_kube_informer *inf)
{
    if (!inf)
        return;
    atomic_store(&inf->stop, true);
    if (inf->started) {
        curl_multi_wakeup(inf->multi);
        pthread_join(inf->thread, NULL);
    }
    for (size_t i = 0; i < inf->n; i++)
        reflector_free(inf->refl[i]);
    free(inf->refl);
    if (inf->multi)
        curl_multi_cleanup(inf->multi);
    if (inf->event_fd >= 0)
        close(inf->event_fd);
    kube_token_clear(&inf->token);
    tby_kube_changes_clear(&inf->queue);
    pthread_mutex_destroy(&inf->lock);
    free(inf);
    curl_global_cleanup();
}
