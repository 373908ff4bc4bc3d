/* curl_lazy.c — libcurl for the CNI plugins, loaded on first use.
 *
 * Why: a plugin runs once per pod, and loading libcurl with everything it links (TLS,
 * Kerberos, LDAP, SSH, …) cost about 45 ms of a plugin's start on the test machines, more
 * than all the work of an ADD; only the etcd datastore and the Kubernetes client (lib/kube_*)
 * need it. So the plugins define the libcurl functions lib/ calls (etcd's client and the
 * Kubernetes one call the same set), and these load libcurl the first time one is called.
 * Linked with --as-needed, the plugins then do not list libcurl at all (the
 * cni_plugin test checks that). A libcurl function lib/ starts to use that is missing here
 * keeps libcurl linked: correct, only slower to start.
 *
 * Owns: the process's handle on libcurl, never closed (libcurl keeps global state).
 */
#define CURL_DISABLE_TYPECHECK 1

#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>

#include <curl/curl.h>

#include "tabby/log.h"

#define LIBCURL_SONAME "libcurl.so.4"

static struct {
    CURLcode (*global_init)(long);
    void (*global_cleanup)(void);
    CURL *(*easy_init)(void);
    void (*easy_cleanup)(CURL *);
    void (*easy_reset)(CURL *);
    CURLcode (*easy_perform)(CURL *);
    CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
    CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
    const char *(*easy_strerror)(CURLcode);
    struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
    void (*slist_free_all)(struct curl_slist *);
    CURLM *(*multi_init)(void);
    CURLMcode (*multi_cleanup)(CURLM *);
    CURLMcode (*multi_add_handle)(CURLM *, CURL *);
    CURLMcode (*multi_remove_handle)(CURLM *, CURL *);
    CURLMcode (*multi_perform)(CURLM *, int *);
    CURLMcode (*multi_poll)(CURLM *, struct curl_waitfd[], unsigned int, int, int *);
    CURLMcode (*multi_wakeup)(CURLM *);
    CURLMsg *(*multi_info_read)(CURLM *, int *);
} fn;

static bool loaded;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static bool bind_all(void *h)
{
    static const char *const names[] = {
        "curl_global_init", "curl_global_cleanup", "curl_easy_init", "curl_easy_cleanup",
        "curl_easy_reset", "curl_easy_perform", "curl_easy_setopt", "curl_easy_getinfo",
        "curl_easy_strerror", "curl_slist_append", "curl_slist_free_all", "curl_multi_init",
        "curl_multi_cleanup", "curl_multi_add_handle", "curl_multi_remove_handle",
        "curl_multi_perform", "curl_multi_poll", "curl_multi_wakeup", "curl_multi_info_read",
    };
    void **slots = (void **)&fn;

    _Static_assert(sizeof(fn) == sizeof(names) / sizeof(names[0]) * sizeof(void *),
                   "one name per function");
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (!(slots[i] = dlsym(h, names[i]))) {
            tby_log(TBY_LOG_ERROR, "cni", "%s lacks %s: %s", LIBCURL_SONAME, names[i],
                    dlerror());
            return false;
        }
    }
    return true;
}

static void load(void)
{
    void *h = dlopen(LIBCURL_SONAME, RTLD_NOW | RTLD_LOCAL);

    if (!h) {
        tby_log(TBY_LOG_ERROR, "cni", "cannot load %s (the etcd datastore and the Kubernetes "
                "API need it): %s", LIBCURL_SONAME, dlerror());
        return;
    }
    loaded = bind_all(h);
}

static bool ready(void)
{
    pthread_once(&once, load);
    return loaded;
}

CURLcode curl_global_init(long flags)
{
    return ready() ? fn.global_init(flags) : CURLE_FAILED_INIT;
}

/* The rest are only reached after curl_global_init succeeded, except the ones lib/ calls
 * on cleanup paths, which must not load libcurl just to free nothing. */
void curl_global_cleanup(void)
{
    if (loaded)
        fn.global_cleanup();
}

CURL *curl_easy_init(void)
{
    return ready() ? fn.easy_init() : NULL;
}

void curl_easy_cleanup(CURL *h)
{
    if (h && loaded)
        fn.easy_cleanup(h);
}

void curl_easy_reset(CURL *h)
{
    if (h && loaded)
        fn.easy_reset(h);
}

CURLcode curl_easy_perform(CURL *h)
{
    return ready() ? fn.easy_perform(h) : CURLE_FAILED_INIT;
}

/* The one argument's type follows from the option's number range (curl.h's
 * CURLOPTTYPE_*): long, object pointer, function pointer, curl_off_t, blob pointer. */
CURLcode curl_easy_setopt(CURL *h, CURLoption option, ...)
{
    CURLcode rc = CURLE_FAILED_INIT;
    va_list ap;

    va_start(ap, option);
    if (!ready())
        ;
    else if (option < CURLOPTTYPE_OBJECTPOINT)
        rc = fn.easy_setopt(h, option, va_arg(ap, long));
    else if (option < CURLOPTTYPE_FUNCTIONPOINT)
        rc = fn.easy_setopt(h, option, va_arg(ap, void *));
    else if (option < CURLOPTTYPE_OFF_T)
        rc = fn.easy_setopt(h, option, va_arg(ap, void (*)(void)));
    else if (option < CURLOPTTYPE_BLOB)
        rc = fn.easy_setopt(h, option, va_arg(ap, curl_off_t));
    else
        rc = fn.easy_setopt(h, option, va_arg(ap, void *));
    va_end(ap);
    return rc;
}

CURLcode curl_easy_getinfo(CURL *h, CURLINFO info, ...)
{
    CURLcode rc = CURLE_FAILED_INIT;
    va_list ap;

    va_start(ap, info);
    if (ready())
        rc = fn.easy_getinfo(h, info, va_arg(ap, void *));
    va_end(ap);
    return rc;
}

const char *curl_easy_strerror(CURLcode code)
{
    return ready() ? fn.easy_strerror(code) : "libcurl could not be loaded";
}

struct curl_slist *curl_slist_append(struct curl_slist *list, const char *s)
{
    return ready() ? fn.slist_append(list, s) : NULL;
}

void curl_slist_free_all(struct curl_slist *list)
{
    if (list && loaded)
        fn.slist_free_all(list);
}

CURLM *curl_multi_init(void)
{
    return ready() ? fn.multi_init() : NULL;
}

CURLMcode curl_multi_cleanup(CURLM *m)
{
    return m && loaded ? fn.multi_cleanup(m) : CURLM_BAD_HANDLE;
}

CURLMcode curl_multi_add_handle(CURLM *m, CURL *h)
{
    return ready() ? fn.multi_add_handle(m, h) : CURLM_BAD_HANDLE;
}

CURLMcode curl_multi_remove_handle(CURLM *m, CURL *h)
{
    return ready() ? fn.multi_remove_handle(m, h) : CURLM_BAD_HANDLE;
}

CURLMcode curl_multi_perform(CURLM *m, int *running)
{
    return ready() ? fn.multi_perform(m, running) : CURLM_BAD_HANDLE;
}

CURLMcode curl_multi_poll(CURLM *m, struct curl_waitfd extra[], unsigned int n, int timeout_ms,
                          int *numfds)
{
    return ready() ? fn.multi_poll(m, extra, n, timeout_ms, numfds) : CURLM_BAD_HANDLE;
}

CURLMcode curl_multi_wakeup(CURLM *m)
{
    return ready() ? fn.multi_wakeup(m) : CURLM_BAD_HANDLE;
}

CURLMsg *curl_multi_info_read(CURLM *m, int *left)
{
    return ready() ? fn.multi_info_read(m, left) : NULL;
}
