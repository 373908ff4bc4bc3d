/* tabbyctl.c — the command line for tabby's resources and state: global options, the
 * datastore choice, and dispatch to the commands. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "tabby/cleanup.h"
#include "tabby/log.h"
#include "tabby/settings.h"
#include "ctl.h"

static const char usage_text[] =
    "Usage: tabbyctl [--store URI] COMMAND [ARGS]\n"
    "\n"
    "Resources (Calico and Kubernetes YAML or JSON):\n"
    "  apply -f FILE|-         create or update every resource of the file(s)\n"
    "  create -f FILE|-        create them; fails if any exists\n"
    "  replace -f FILE|-       replace them; fails if any is missing\n"
    "  delete -f FILE|-        delete the resources the file(s) name\n"
    "  delete KIND NAME...     delete by name [-n NAMESPACE]\n"
    "  get KIND [NAME...]      show resources [-n NS | -A] [-o table|wide|yaml|json|name]\n"
    "                          [-o custom-columns=HEADER:JSONPATH,…] [-l SELECTOR]\n"
    "  patch KIND NAME -p PATCH [-n NS]\n"
    "                          merge a JSON patch into a stored resource (RFC 7386)\n"
    "  label KIND NAME [-n NS] [--overwrite] KEY=VALUE… KEY-…\n"
    "                          set and remove labels (a pod's endpoint: label wep NAME)\n"
    "\n"
    "Selectors:\n"
    "  selector check EXPR     print the canonical form (exit 2 when invalid)\n"
    "  selector match EXPR [KEY=VALUE…]  true (exit 0) or false (exit 1)\n"
    "\n"
    "Policy:\n"
    "  policy explain FROM TO PORT/PROTO [-o text|json] [--sport PORT] [--as-written]\n"
    "                 [--node NAME]\n"
    "                          why a flow is allowed (exit 0) or denied (exit 1), from the\n"
    "                          datastore: FROM's egress, TO's ingress, tier by tier; FROM and\n"
    "                          TO are NS/POD, a WorkloadEndpoint or an address\n"
    "  policy explain --batch FILE|-      one FROM TO PORT/PROTO a line\n"
    "\n"
    "IP address management:\n"
    "  ipam show [--show-blocks]          addresses per pool (and block): total, in use, free\n"
    "  ipam show --ip=ADDRESS             who holds an address\n"
    "  ipam show --show-borrowed          addresses nodes took from other nodes' blocks\n"
    "  ipam release --ip=ADDRESS          release an address\n"
    "  ipam check [--release-leaks]       find (and fix) leaked addresses and broken records\n"
    "  ipam configure [--strictaffinity=true|false] [--max-blocks-per-host=N]\n"
    "\n"
    "Nodes and BGP (BIRD):\n"
    "  node status [--bird-socket PATH] [--node-pid-file PATH]\n"
    "                                     tabby-node, BIRD and the BGP sessions\n"
    "  node diagnose [--node NAME] [-o text|json] [--health HOST:PORT]\n"
    "                [--backend bird|vxlan|none] [--bird-socket PATH] [--bird-config FILE]\n"
    "                [--node-pid-file PATH] [--secrets-dir DIR] [--timeout SECONDS]\n"
    "                                     check this node (in its network namespace): kernel,\n"
    "                                     policy, routes, BGP, VXLAN, addresses; exit 1 on FAIL\n"
    "  flows --node NAME [--denied] [--follow] [-o text|json] [--health HOST:PORT]\n"
    "        [--timeout SECONDS]\n"
    "                                     the flows tabby-node NAME dropped by policy, with\n"
    "                                     the policy, direction and rule, counted per 5 s\n"
    "  bgp render --node NAME [--block CIDR…] [--secrets-dir DIR]\n"
    "                                     print the node's BIRD configuration\n"
    "  bgp apply --node NAME --bird-socket PATH --bird-config FILE\n"
    "                                     write it; reload BIRD (after a check) if it changed\n"
    "\n"
    "Other:\n"
    "  version                 print tabbyctl's version\n"
    "\n"
    "Options of the commands above:\n"
    "  -f, --filename FILE|-   a file of resources (- for standard input; may repeat)\n"
    "  -n, --namespace NS      the namespace of namespaced kinds [default]\n"
    "  -A, --all-namespaces    get: every namespace\n"
    "  -o, --output FORMAT     get: table, wide, yaml, json, name or custom-columns=…\n"
    "  -l, --selector EXPR     get: only the resources whose labels match EXPR\n"
    "  -p, --patch PATCH       patch: the merge patch, as JSON\n"
    "  --skip-not-found        delete: a resource that is not there is no error\n"
    "  --overwrite             label: a label that has a value may change\n"
    "  -h, --help              print this help\n"
    "\n"
    "Kinds: ippool, ipamconfig, networkpolicy (netpol), globalnetworkpolicy (gnp),\n"
    "  bgpconfig, bgppeer, bgpfilter, node, workloadendpoint (wep), hostendpoint (hep),\n"
    "  profile, networkpolicy.networking.k8s.io (knp), namespace (ns),\n"
    "  felixconfiguration (felixconfig), networkset (netset), globalnetworkset (gnetset)\n"
    "\n"
    "The datastore: --store URI, else $TABBY_STORE, else `store:` in " TBY_SETTINGS_PATH "\n"
    "($TABBY_CONFIG), else " TBY_DEFAULT_STORE ".\n"
    "URIs: sqlite:PATH, etcd:http://HOST:PORT[,…], k8s:[KUBECONFIG] (the Kubernetes API)\n";

int ctl_fail(const char *fmt, ...)
{
    va_list ap;

    fputs("tabbyctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return CTL_FAIL;
}

int ctl_usage_error(const char *synopsis, const char *fmt, ...)
{
    va_list ap;

    fputs("tabbyctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nUsage: tabbyctl %s\n", synopsis);
    return CTL_USAGE;
}

static int choose_store(struct ctl *ctl, struct tby_error *err)
{
    if (ctl->store_uri)
        return 0;
    if (tby_settings_store_uri(&ctl->store_uri_owned, err) < 0)
        return -1;
    ctl->store_uri = ctl->store_uri_owned;
    return 0;
}

static struct tby_store *open_store(struct ctl *ctl, bool create, struct tby_error *err)
{
    struct tby_store_options opts;

    if (ctl->store)
        return ctl->store;
    if (choose_store(ctl, err) < 0)
        return NULL;
    tby_store_options_from_env(&opts);
    opts.no_create = !create;
    if (tby_store_open_options(ctl->store_uri, &opts, &ctl->store, err) < 0)
        return NULL;
    return ctl->store;
}

static struct tby_store *open_or_say(struct ctl *ctl, bool create)
{
    struct tby_error err = { 0 };
    struct tby_store *store = open_store(ctl, create, &err);

    if (!store)
        ctl_fail("%s", tby_error_str(&err));
    return store;
}

struct tby_store *ctl_store(struct ctl *ctl)
{
    return open_or_say(ctl, false);
}

struct tby_store *ctl_store_create(struct ctl *ctl)
{
    return open_or_say(ctl, true);
}

struct tby_store *ctl_store_quiet(struct ctl *ctl, struct tby_error *err)
{
    return open_store(ctl, false, err);
}

static int cmd_version(struct ctl *ctl, int argc, char **argv)
{
    (void)ctl;
    (void)argc;
    (void)argv;
    printf("tabbyctl %s\n", PACKAGE_VERSION);
    return CTL_OK;
}

static const struct {
    const char *name;
    int (*run)(struct ctl *ctl, int argc, char **argv);
} commands[] = {
    { "apply", ctl_cmd_apply },
    { "create", ctl_cmd_apply },
    { "replace", ctl_cmd_apply },
    { "delete", ctl_cmd_delete },
    { "get", ctl_cmd_get },
    { "label", ctl_cmd_label },
    { "patch", ctl_cmd_patch },
    { "selector", ctl_cmd_selector },
    { "bgp", ctl_cmd_bgp },
    { "node", ctl_cmd_node },
    { "ipam", ctl_cmd_ipam },
    { "policy", ctl_cmd_policy },
    { "flows", ctl_cmd_flows },
    { "version", cmd_version },
};

int main(int argc, char **argv)
{
    static const struct option options[] = {
        { "store", required_argument, NULL, 's' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    struct ctl ctl = { 0 };
    int opt, r = -1;

    tby_log_set_level(TBY_LOG_WARNING);
    while ((opt = getopt_long(argc, argv, "+h", options, NULL)) != -1) {
        if (opt == 's')
            ctl.store_uri = optarg;
        else if (opt == 'h') {
            fputs(usage_text, stdout);
            return CTL_OK;
        } else {
            fputs(usage_text, stderr);
            return CTL_USAGE;
        }
    }
    if (optind >= argc) {
        fputs(usage_text, stderr);
        return CTL_USAGE;
    }
    for (size_t i = 0; i < TBY_ARRAY_SIZE(commands) && r < 0; i++) {
        if (strcmp(commands[i].name, argv[optind]) != 0)
            continue;
        argv += optind;
        argc -= optind;
        optind = 0; /* reset getopt for the command's own options */
        r = commands[i].run(&ctl, argc, argv);
    }
    if (r < 0) {
        fprintf(stderr, "tabbyctl: unknown command \"%s\"\n\n%s", argv[optind], usage_text);
        r = CTL_USAGE;
    }
    tby_store_close(ctl.store);
    free(ctl.store_uri_owned);
    return r;
}
