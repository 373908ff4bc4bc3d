/* autodetect_method.h — a parsed IP autodetection method, shared by the pure chooser
 * (autodetect.c) and the kernel side (autodetect_kernel.c). Private to lib/netlink/. */
#ifndef TABBY_NETLINK_AUTODETECT_METHOD_H
#define TABBY_NETLINK_AUTODETECT_METHOD_H

#include <regex.h>

#include "tabby/autodetect.h"
#include "tabby/model.h"

enum autodetect_kind {
    AUTODETECT_FIRST_FOUND,
    AUTODETECT_INTERFACE,
    AUTODETECT_SKIP_INTERFACE,
    AUTODETECT_CAN_REACH,
    AUTODETECT_CIDR,
};

struct tby_autodetect {
    enum autodetect_kind kind;
    char *text;                  /* as the user wrote it, for messages */
    regex_t *regexes;            /* interface= and skip-interface= */
    size_t n_regexes;
    struct tby_cidr_list cidrs;  /* cidr= */
    char *target;                /* can-reach=: an address or a host name */
};

#endif
