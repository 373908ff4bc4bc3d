/* ctl.h — what tabbyctl's commands share (private to ctl/): the parsed global options,
 * the datastore they open, and the table and document printers. */
#ifndef TABBY_CTL_H
#define TABBY_CTL_H

#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

#include "tabby/cleanup.h"
#include "tabby/resource.h"
#include "tabby/store.h"

/* Exit codes: 0 success, 1 an error the message explains, 2 a usage error. */
enum { CTL_OK = 0, CTL_FAIL = 1, CTL_USAGE = 2 };

struct ctl {
    const char *store_uri;   /* --store, TABBY_STORE, the config file, or the default */
    struct tby_store *store; /* opened on first use by ctl_store() */
    char *store_uri_owned;   /* when the URI came from the environment or config file */
};

/* Opens the datastore once; prints the error and returns NULL on failure. Only the
 * commands that add resources create it (ctl_store_create); for the others a sqlite
 * file that does not exist yet reads as an empty store and stays uncreated, as a read
 * must not leave a database behind. */
struct tby_store *ctl_store(struct ctl *ctl);
struct tby_store *ctl_store_create(struct ctl *ctl);
/* ctl_store without printing: NULL with err filled (node diagnose reports it itself). */
struct tby_store *ctl_store_quiet(struct ctl *ctl, struct tby_error *err);

/* Prints "tabbyctl: <message>" to stderr; returns CTL_FAIL. */
int ctl_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints a usage error and the command's synopsis; returns CTL_USAGE. */
int ctl_usage_error(const char *synopsis, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Whether tabby-node runs, from its pid file (node_process.c): its pid, or -ENOENT (no
 * pid in the file) or -ESRCH (that process is gone or is not tabby-node), with why. */
long ctl_node_process(const char *pid_file, char *why, size_t size);
/* Whether that process is stopped (SIGSTOP, a debugger). */
bool ctl_process_stopped(long pid);

/* GETs http://HEALTH PATH from tabby-node's HTTP port (node_http.c): the JSON object it
 * answers (the caller's), or NULL with why in error. */
json_t *ctl_node_get(const char *health, const char *path, int timeout_ms, char *error,
                     size_t size);
/* --timeout SECONDS (more than 0, up to 600) into *ms; -1 when it is not that. */
int ctl_timeout_ms(const char *arg, int *ms);
/* tabby-node's HTTP port: the flag, else 127.0.0.1:$TABBY_HEALTH_PORT, else 127.0.0.1:9099. */
void ctl_node_health(const char *flag, char *out, size_t size);

/* The commands: argv[0] is the command's name. */
int ctl_cmd_flows(struct ctl *ctl, int argc, char **argv);    /* flows --node NAME */
int ctl_cmd_apply(struct ctl *ctl, int argc, char **argv);   /* apply, create, replace */
int ctl_cmd_delete(struct ctl *ctl, int argc, char **argv);
int ctl_cmd_get(struct ctl *ctl, int argc, char **argv);
int ctl_cmd_ipam(struct ctl *ctl, int argc, char **argv);   /* ipam show|check|release|… */
int ctl_cmd_label(struct ctl *ctl, int argc, char **argv);
int ctl_cmd_patch(struct ctl *ctl, int argc, char **argv);
int ctl_cmd_selector(struct ctl *ctl, int argc, char **argv);
int ctl_cmd_policy(struct ctl *ctl, int argc, char **argv);   /* policy explain */
int ctl_cmd_bgp(struct ctl *ctl, int argc, char **argv);      /* bgp render|apply */
int ctl_cmd_node(struct ctl *ctl, int argc, char **argv);     /* node status|diagnose */
int ctl_cmd_node_diagnose(struct ctl *ctl, int argc, char **argv);

/* ---- output ------------------------------------------------------------------------ */

enum ctl_format { CTL_FORMAT_TABLE, CTL_FORMAT_WIDE, CTL_FORMAT_YAML, CTL_FORMAT_JSON,
                  CTL_FORMAT_NAME, CTL_FORMAT_CUSTOM };

/* "table", "wide", …, or "custom-columns=SPEC" (*spec then points into text). */
int ctl_format_parse(const char *text, enum ctl_format *out, const char **spec);

/* -o custom-columns=SPEC: comma-separated columns, each HEADER:JSONPATH as kubectl takes
 * them (NAME:.metadata.name,CIDR:.spec.cidr), or the name of one of the kind's own
 * columns as calicoctl takes them (NAME,CIDR). */
struct ctl_columns;
/* Prints the usage error itself; returns CTL_USAGE, or CTL_OK with *out set. */
int ctl_columns_parse(const char *spec, const struct tby_kind_info *info,
                      struct ctl_columns **out);
void ctl_columns_free(struct ctl_columns *cols);
TBY_DEFINE_FREEP(struct ctl_columns, ctl_columns_free)

/* Prints resources of one kind in `format`. `single`: one named resource was asked for,
 * so YAML/JSON print it alone rather than as a List. `all_namespaces` adds a NAMESPACE
 * column to tables. `custom`: the columns of CTL_FORMAT_CUSTOM. */
int ctl_print(FILE *out, const struct tby_kind_info *info, const struct tby_resource_list *list,
              enum ctl_format format, bool single, bool all_namespaces,
              const struct ctl_columns *custom);

#endif
