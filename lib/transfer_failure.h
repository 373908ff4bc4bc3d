/* transfer_failure.h — a libcurl transfer that got no HTTP answer, said in words (private to
 * lib/; shared by the etcd and Kubernetes clients).
 *
 * Owns nothing. The messages hold no URL credentials or headers: only what libcurl and
 * the system say about the connection.
 */
#ifndef TABBY_TRANSFER_FAILURE_H
#define TABBY_TRANSFER_FAILURE_H

#include <stdbool.h>
#include <stddef.h>

#include <curl/curl.h>

/* Problems with our own files or settings (certificates, URL): another server or a later
 * try would fail the same way. */
bool transfer_failure_is_local(CURLcode rc);

/* Why the transfer on `e` failed with `rc`, into buf: "connection refused", "no
 * connection within 2000 ms", "no answer within 5000 ms", or libcurl's own words (the
 * transfer's error buffer `errbuf` first). Starts lower-case unless an acronym. */
void transfer_failure_describe(CURL *e, CURLcode rc, const char *errbuf, long connect_timeout_ms,
                           long timeout_ms, char *buf, size_t size);

#endif
