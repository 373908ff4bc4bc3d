/* fuzz_node_env.c — libFuzzer target for tabby-node's settings as calico-node takes them
 * from the environment: arbitrary bytes are lines of NAME=VALUE, given as the whole
 * environment to the settings' loader (the default pools' CALICO_IPV{4,6}POOL_* and
 * NO_DEFAULT_POOLS, the FELIX_* variables, every other setting) and to the FELIX_* reader
 * alone; and the same bytes as the ClusterConfiguration of kubeadm's ConfigMap, whose pod
 * subnet a default pool without a CIDR takes. Never a crash, a leak or undefined
 * behaviour; a failure always says why. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "default_pool.h"
#include "node_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_VARS 32

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1), *envp[MAX_VARS + 3], *save = NULL;
    char *argv[] = { "tabby-node", NULL };
    struct node_config c;
    struct tby_resource *res = NULL;
    struct tby_error err = { 0 };
    int n = 0;

    struct tby_cidr subnets[2];
    bool found[2];

    if (!text)
        return 0;
    if (node_default_pool_kubeadm((const char *)data, size, subnets, found, &err) < 0 &&
        (!err.msg[0] || found[0] || found[1]))
        __builtin_trap();
    memset(&err, 0, sizeof(err));
    memcpy(text, data, size);
    text[size] = '\0';
    clearenv();
    /* no datastore or config file of the machine's */
    envp[n++] = "TABBY_STORE=sqlite:/nonexistent/tabby.db";
    envp[n++] = "TABBY_NODE_CONFIG=";
    for (char *line = strtok_r(text, "\n", &save); line && n < MAX_VARS + 2;
         line = strtok_r(NULL, "\n", &save))
        /* files the loader would read are the machine's, not the input's */
        if (strchr(line, '=') && line[0] != '=' && strncmp(line, "TABBY_NODE_CONFIG=", 18) &&
            strncmp(line, "TABBY_CONFIG=", 13) && strncmp(line, "TABBY_STORE=", 12))
            envp[n++] = line;
    envp[n] = NULL;
    for (int i = 0; i < n; i++)
        putenv(envp[i]);
    if (node_felix_env(envp, &res, &err) < 0 && !err.msg[0])
        __builtin_trap();
    tby_resource_free(res);
    memset(&err, 0, sizeof(err));
    if (node_config_load(&c, 1, argv, &err) < 0 && !err.msg[0])
        __builtin_trap();
    node_config_clear(&c);
    clearenv();
    free(text);
    return 0;
}
