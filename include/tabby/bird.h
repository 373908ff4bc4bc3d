/* bird.h — BIRD 2's control socket: the reply protocol, a client that outlives BIRD
 * restarts, the commands tabby needs, and applying a new configuration safely.
 *
 * The protocol (BIRD's client/ and doc): BIRD greets with "0001 BIRD 2.0.12 ready.";
 * a command is one line; a reply is lines "DDDD-text" (more follows), " text" (more
 * follows, with the code of the line before), and ends with "DDDD text" (the final
 * code). "+…" lines are asynchronous messages and are skipped. Codes 0xxx are
 * success/action, 1xxx data, 2xxx table headers, 8xxx run-time errors and 9xxx parse
 * errors. Anything else is malformed: the parser returns -EPROTO, never crashes, and
 * bounds what it keeps (TBY_BIRD_LINE_MAX per line, TBY_BIRD_REPLY_MAX per reply).
 *
 * Applying a configuration (tby_bird_apply): if the text equals the file in place,
 * nothing happens (BIRD is not reloaded). Otherwise the text is written to a temporary
 * file beside the target (written, fsync'd), BIRD checks it (`configure check`), it is
 * renamed over the target, and BIRD loads it (`configure`). If BIRD rejects it the
 * temporary file goes, the old file and configuration stay in force, and the error
 * (with BIRD's message: file, line, column) is returned.
 *
 * Reconnection: every transport failure closes the connection; the next command
 * reconnects. A poll loop uses tby_bird_ensure(), which retries with exponential backoff
 * (100 ms doubling to 5 s) so that a BIRD that is restarting or gone is not hammered.
 *
 * Errors: -ENOTCONN/-ECONNREFUSED/-ENOENT (no BIRD on the socket), -ETIMEDOUT (no reply
 * in time), -EPROTO (malformed reply), -EREMOTEIO (BIRD answered with an error code; the
 * message is BIRD's), -EINVAL (a configuration BIRD refused, or a bad argument).
 *
 * Ownership: struct tby_bird with tby_bird_free; replies, protocol lists with their
 * _clear functions.
 */
#ifndef TABBY_BIRD_H
#define TABBY_BIRD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tabby/cleanup.h"
#include "tabby/error.h"
#include "tabby/net.h"

#define TBY_BIRD_LINE_MAX (64 * 1024)
#define TBY_BIRD_REPLY_MAX (64 * 1024 * 1024)
#define TBY_BIRD_DEFAULT_TIMEOUT_MS 30000

/* ---- replies --------------------------------------------------------------------------- */

struct tby_bird_line {
    int code;        /* the line's code; continuation lines carry the one before */
    char *text;      /* without the code, separator or newline */
};

struct tby_bird_reply {
    int code;        /* the final line's code */
    struct tby_bird_line *lines; /* every line, the final one last */
    size_t n, cap;
    size_t bytes;    /* kept so far, for the size bound */
    bool done;
};

void tby_bird_reply_clear(struct tby_bird_reply *reply);

/* Adds one line (without its '\n') to a reply being read. 1: the reply is complete;
 * 0: more lines to come; -EPROTO (message says why) for a malformed line. */
int tby_bird_reply_feed(struct tby_bird_reply *reply, const char *line, size_t len,
                        struct tby_error *err);

/* Parses one whole reply from buf. 0 with *used = bytes consumed; -EAGAIN when buf ends
 * before the reply does; -EPROTO when malformed. *out is cleared first. */
int tby_bird_reply_parse(const char *buf, size_t len, struct tby_bird_reply *out, size_t *used,
                         struct tby_error *err);

/* 8xxx and 9xxx. */
bool tby_bird_code_is_error(int code);
/* The final line's text (or "" for none). */
const char *tby_bird_reply_message(const struct tby_bird_reply *reply);

/* ---- what the show commands say ---------------------------------------------------------- */

struct tby_bird_status {
    char version[64];       /* "2.0.12" */
    char router_id[TBY_IP_STRLEN];
    char last_reboot[64];
    char last_reconfiguration[64];
    char message[128];      /* "Daemon is up and running" */
};

/* From the reply of `show status`. */
int tby_bird_status_parse(const struct tby_bird_reply *reply, struct tby_bird_status *out,
                          struct tby_error *err);

struct tby_bird_protocol {
    char *name;
    char *proto;            /* "BGP", "Static", "Kernel", … */
    char *table;
    char *state;            /* "up", "start", "down" */
    char *since;
    char *info;             /* "Established", "Active        Socket: Connection refused" */
    bool has_neighbor;      /* BGP: from the details of `show protocols all` */
    struct tby_ip neighbor;
    uint32_t neighbor_as;
    char *bgp_state;
    char *last_error;
    uint64_t routes_imported;
    uint64_t routes_exported;
};

struct tby_bird_protocols {
    struct tby_bird_protocol *items;
    size_t n, cap;
};

/* From the reply of `show protocols` or `show protocols all`. */
int tby_bird_protocols_parse(const struct tby_bird_reply *reply, struct tby_bird_protocols *out,
                             struct tby_error *err);
void tby_bird_protocols_clear(struct tby_bird_protocols *list);

/* The routes of `show route … count` (the total when there are several tables). */
int tby_bird_route_count_parse(const struct tby_bird_reply *reply, uint64_t *routes,
                               struct tby_error *err);

/* ---- the client ---------------------------------------------------------------------------- */

struct tby_bird;

/* Does not connect yet. */
int tby_bird_new(const char *socket_path, struct tby_bird **out, struct tby_error *err);
void tby_bird_free(struct tby_bird *bird);
TBY_DEFINE_FREEP(struct tby_bird, tby_bird_free)
const char *tby_bird_socket_path(const struct tby_bird *bird);
/* How long one reply may take (default TBY_BIRD_DEFAULT_TIMEOUT_MS). */
void tby_bird_set_timeout(struct tby_bird *bird, int timeout_ms);

/* Connects and reads the greeting. */
int tby_bird_connect(struct tby_bird *bird, struct tby_error *err);
void tby_bird_disconnect(struct tby_bird *bird);
bool tby_bird_connected(const struct tby_bird *bird);
/* The greeting's version ("2.0.12"), "" before the first connection. */
const char *tby_bird_version(const struct tby_bird *bird);

/* For a poll loop: connected → 0; otherwise tries to connect when the backoff allows
 * (now_ms from CLOCK_MONOTONIC), else -EAGAIN. After a failure, tby_bird_retry_at()
 * says when to call again. */
int tby_bird_ensure(struct tby_bird *bird, uint64_t now_ms, struct tby_error *err);
uint64_t tby_bird_retry_at(const struct tby_bird *bird);

/* Sends one command (connecting first when needed) and reads its reply. A BIRD error
 * reply returns -EREMOTEIO with BIRD's message, the reply still filled in. */
int tby_bird_command(struct tby_bird *bird, const char *command, struct tby_bird_reply *out,
                     struct tby_error *err);

int tby_bird_show_status(struct tby_bird *bird, struct tby_bird_status *out,
                         struct tby_error *err);
int tby_bird_show_protocols(struct tby_bird *bird, struct tby_bird_protocols *out,
                            struct tby_error *err);
/* `show route ARGS count`; ARGS (may be NULL) such as "protocol Blocks_v4" or
 * "where net ~ [ 10.0.0.0/8+ ]". */
int tby_bird_route_count(struct tby_bird *bird, const char *args, uint64_t *routes,
                         struct tby_error *err);
/* `configure check "PATH"`; -EINVAL with BIRD's message when the file is refused. */
int tby_bird_configure_check(struct tby_bird *bird, const char *path, struct tby_error *err);
/* `configure "PATH"`. */
int tby_bird_configure(struct tby_bird *bird, const char *path, struct tby_error *err);

/* See the top of this file. *changed (may be NULL) says whether BIRD was reloaded. */
int tby_bird_apply(struct tby_bird *bird, const char *config_path, const char *text, size_t len,
                   bool *changed, struct tby_error *err);

#endif
