/* fuzz_bird.c — libFuzzer target for BIRD's control-socket replies: arbitrary bytes are
 * read as a stream of replies, each then read as the show commands' output. Malformed
 * input must give errors, never crashes, leaks or undefined behaviour. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tabby/bird.h"

static void read_as_show_output(const struct tby_bird_reply *reply)
{
    struct tby_bird_protocols list;
    struct tby_bird_status status;
    uint64_t routes;

    if (tby_bird_protocols_parse(reply, &list, NULL) == 0)
        tby_bird_protocols_clear(&list);
    (void)tby_bird_status_parse(reply, &status, NULL);
    (void)tby_bird_route_count_parse(reply, &routes, NULL);
    (void)tby_bird_reply_message(reply);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    struct tby_error err;
    size_t pos = 0;

    while (pos < size) {
        struct tby_bird_reply reply;
        size_t used = 0;

        if (tby_bird_reply_parse(buf + pos, size - pos, &reply, &used, &err) < 0)
            break;
        if (used == 0 || used > size - pos)
            __builtin_trap(); /* the parser must always make progress, within bounds */
        read_as_show_output(&reply);
        tby_bird_reply_clear(&reply);
        pos += used;
    }
    return 0;
}
