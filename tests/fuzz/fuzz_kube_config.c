/* fuzz_kube_config.c — libFuzzer target for kubeconfig files: arbitrary bytes are read
 * as one, with the current context and with a context named by the first line. Bad
 * input must give an error naming the kubeconfig, never a crash, a leak or undefined
 * behaviour. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tabby/kube_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    const char *nl = memchr(text, '\n', size);
    char context[64] = "";
    struct tby_kube_config *cfg = NULL;
    struct tby_error err;

    if (tby_kube_config_parse(text, size, "/fuzz/config", NULL, &cfg, &err) == 0) {
        if (!cfg->server || !cfg->namespace)
            __builtin_trap(); /* a parsed config always has both */
        tby_kube_config_free(cfg);
    } else if (strncmp(err.msg, "kubeconfig", 10) != 0) {
        __builtin_trap(); /* every message names the kubeconfig */
    }
    if (nl && (size_t)(nl - text) < sizeof(context)) {
        memcpy(context, text, (size_t)(nl - text));
        if (tby_kube_config_parse(text, size, "rel", context, &cfg, &err) == 0)
            tby_kube_config_free(cfg);
    }
    return 0;
}
