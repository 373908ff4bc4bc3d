/* transfer_failure.c — words for libcurl transfers that failed before an HTTP answer. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "transfer_failure.h"

bool transfer_failure_is_local(CURLcode rc)
{
    switch (rc) {
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_OUT_OF_MEMORY:
        return true;
    default:
        return false;
    }
}

void transfer_failure_describe(CURL *e, CURLcode rc, const char *errbuf, long connect_timeout_ms,
                           long timeout_ms, char *buf, size_t size)
{
    long os_errno = 0;
    curl_off_t connected = 0;

    curl_easy_getinfo(e, CURLINFO_OS_ERRNO, &os_errno);
    curl_easy_getinfo(e, CURLINFO_CONNECT_TIME_T, &connected);
    if (rc == CURLE_OPERATION_TIMEDOUT && connected == 0)
        snprintf(buf, size, "no connection within %ld ms", connect_timeout_ms);
    else if (rc == CURLE_OPERATION_TIMEDOUT)
        snprintf(buf, size, "no answer within %ld ms", timeout_ms);
    else if (rc == CURLE_COULDNT_CONNECT && os_errno)
        snprintf(buf, size, "%s", strerror((int)os_errno));
    else
        snprintf(buf, size, "%s", errbuf && errbuf[0] ? errbuf : curl_easy_strerror(rc));
    /* "Connection refused" reads better mid-message as "connection refused"; "SSL" and
     * "OpenSSL" stay as they are. */
    if (buf[0] && islower((unsigned char)buf[1]))
        buf[0] = (char)tolower((unsigned char)buf[0]);
}
