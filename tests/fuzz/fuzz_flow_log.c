/* fuzz_flow_log.c — libFuzzer target for denied flows (node/flow_log.c): arbitrary bytes
 * are logged packets as NFLOG hands them (network header first, any length), each with a
 * rule text taken from the input, counted at times taken from the input, then every
 * record rendered as JSON. Never a crash, a leak or undefined behaviour. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "flow_log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct flow_log *log = flow_log_new();
    int64_t now = 1700000000000LL;
    char rule[64];
    json_t *a;

    if (!log)
        return 0;
    /* records: [len][time step][rule length][rule][packet of len bytes] */
    while (size >= 3) {
        size_t len = data[0], rlen = data[2] % sizeof(rule);
        struct flow_pkt k = { 0 };

        now += (int64_t)data[1] * 100;
        data += 3, size -= 3;
        if (rlen > size)
            rlen = size;
        memcpy(rule, data, rlen);
        rule[rlen] = '\0';
        data += rlen, size -= rlen;
        if (len > size)
            len = size;
        if (flow_log_parse_ip(data, len, &k)) {
            k.rule = rule;
            flow_log_add(log, &k, now);
        }
        data += len, size -= len;
    }
    a = flow_log_json(log, 0, 0);
    json_decref(a);
    flow_log_free(log);
    return 0;
}
