/* model_felixconfig.c — FelixConfiguration ("default", "node.<name>"): the settings of
 * tabby-node that Calico keeps in the datastore. Every field of Calico's (3.31 and the
 * few newer ones) is in one table, in one of four classes:
 *   - applied: tabby-node applies it as it changes (felix.c): the log level, the health
 *     and metrics servers, the read-back intervals, and the dataplane's own settings
 *     (VXLAN VNI, port and MTUs, the IPIP MTU, natOutgoingAddress, IPv6, the interface
 *     prefix, the host endpoints' failsafe ports and defaultEndpointToHostAction,
 *     workloadSourceSpoofing);
 *   - fixed: taken with the one value that is what tabby always does (bpfEnabled: false),
 *     refused with any other;
 *   - tunes: a knob of a part of Calico's dataplane tabby does not have (eBPF maps, the
 *     iptables lock, WireGuard's port, flow logs, Go's GC): type-checked, kept as written,
 *     and named by tabbyctl apply's warnings (tby_felixconfig_ignored);
 *   - refused: it would change what traffic is allowed or how it is routed, and tabby does
 *     not do it: refused at apply, naming the field.
 * A field in none of them is unknown, as for every kind. A lenient decoder (a
 * FelixConfiguration Calico wrote) skips the fixed and refused fields it cannot take and
 * reports them, so that tabby-node still applies what it can. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tabby/cleanup.h"
#include "tabby/validate.h"
#include "kinds.h"
#include "model_fields.h"

enum field_class { F_APPLIED, F_FIXED, F_TUNES, F_REFUSED };

/* Whether a pod's traffic to its own node is dropped after its egress policy when
 * defaultEndpointToHostAction says Drop: the host endpoints' work; until then Drop is
 * refused. */
#define TO_HOST_DROP_ENFORCED true
enum field_type { T_ANY, T_BOOL, T_INT, T_DURATION, T_STRING, T_LIST, T_OBJECT, T_PORT };

/* What a tuning field tunes that tabby does not have (the warning's reason). */
enum tuned {
    W_TUNING, W_BPF, W_WIREGUARD, W_FLOWLOGS, W_DEBUG, W_LOG, W_USAGE, W_GO, W_OPENSTACK,
    W_XDP, W_WINDOWS,
};

static const char *const tuned_what[] = {
    [W_TUNING] = "tunes how Calico's felix drives its iptables/ipsets dataplane; tabby-node's "
                 "nftables dataplane has no such knob",
    [W_BPF] = "tunes Calico's eBPF dataplane, which tabby does not have (bpfEnabled is false)",
    [W_WIREGUARD] = "tunes WireGuard encryption, which tabby does not set up",
    [W_FLOWLOGS] = "tunes Calico's flow logs; tabby logs denied flows its own way "
                   "(tabbyctl flows)",
    [W_DEBUG] = "a debugging aid of Calico's felix",
    [W_LOG] = "tunes felix's logs; tabby-node logs to standard error at logSeverityScreen",
    [W_USAGE] = "tunes Calico's usage reporting; tabby reports nothing",
    [W_GO] = "tunes the Go runtime or its metrics; tabby-node is not a Go program",
    [W_OPENSTACK] = "tunes endpoint status reporting (OpenStack), which tabby does not do",
    [W_XDP] = "tunes XDP acceleration of untracked deny rules; tabby uses none",
    [W_WINDOWS] = "a setting of Calico for Windows",
};

/* Why a refused field is: what it would change that tabby does not do. */
enum refused {
    R_WHERE_RULES, R_HOST_IFACES, R_VERDICT, R_WORKLOAD_FILTER, R_METADATA, R_NAT, R_ROUTING,
    R_WIREGUARD, R_SERVICES, R_METRICS_TLS,
};

static const char *const refused_why[] = {
    [R_WHERE_RULES] = "would change where felix places its rules among others'",
    [R_HOST_IFACES] = ("would change which host interfaces and ports host endpoint policy "
                       "covers"),
    [R_VERDICT] = "would change what an allow or a deny of policy does to a packet",
    [R_WORKLOAD_FILTER] = "would change which packets from pods are dropped before policy",
    [R_METADATA] = "would open a path from pods to a metadata service",
    [R_NAT] = "would change how pod traffic is source-NATed",
    [R_ROUTING] = "would change the routes felix programs",
    [R_WIREGUARD] = "would encrypt traffic between nodes, which tabby does not do",
    [R_SERVICES] = "would change how traffic to Kubernetes services is handled",
    [R_METRICS_TLS] = "would restrict the metrics server to TLS clients",
};

static const struct field {
    const char *name;
    enum field_class cls;
    enum field_type type;   /* F_TUNES */
    enum tuned what;        /* F_TUNES */
    enum refused why;       /* F_REFUSED */
} fields[] = {
#define APPLIED(n) { .name = n, .cls = F_APPLIED }
#define FIXED(n) { .name = n, .cls = F_FIXED }
#define TUNES(n, t, w) { .name = n, .cls = F_TUNES, .type = T_##t, .what = W_##w }
#define REFUSED(n, r) { .name = n, .cls = F_REFUSED, .why = R_##r }
    FIXED("useInternalDataplaneDriver"),
    TUNES("dataplaneDriver", STRING, TUNING),
    TUNES("dataplaneWatchdogTimeout", DURATION, TUNING),
    APPLIED("ipv6Support"),
    APPLIED("routeRefreshInterval"),
    TUNES("interfaceRefreshInterval", DURATION, TUNING),
    APPLIED("iptablesRefreshInterval"),
    TUNES("iptablesPostWriteCheckInterval", DURATION, TUNING),
    TUNES("iptablesLockFilePath", STRING, TUNING),
    TUNES("iptablesLockTimeout", DURATION, TUNING),
    TUNES("iptablesLockProbeInterval", DURATION, TUNING),
    TUNES("featureDetectOverride", STRING, TUNING),
    TUNES("featureGates", STRING, TUNING),
    TUNES("ipsetsRefreshInterval", DURATION, TUNING),
    TUNES("maxIpsetSize", INT, TUNING),
    TUNES("iptablesBackend", STRING, TUNING),
    TUNES("xdpRefreshInterval", DURATION, XDP),
    TUNES("netlinkTimeout", DURATION, TUNING),
    REFUSED("metadataAddr", METADATA),
    REFUSED("metadataPort", METADATA),
    TUNES("openstackRegion", STRING, OPENSTACK),
    APPLIED("interfacePrefix"),
    REFUSED("interfaceExclude", HOST_IFACES),
    REFUSED("chainInsertMode", WHERE_RULES),
    APPLIED("defaultEndpointToHostAction"),
    REFUSED("iptablesFilterAllowAction", VERDICT),
    REFUSED("iptablesMangleAllowAction", VERDICT),
    REFUSED("iptablesFilterDenyAction", VERDICT),
    TUNES("logPrefix", STRING, LOG),
    TUNES("logActionRateLimit", STRING, LOG),
    TUNES("logActionRateLimitBurst", INT, LOG),
    TUNES("logFilePath", STRING, LOG),
    TUNES("logSeverityFile", STRING, LOG),
    APPLIED("logSeverityScreen"),
    TUNES("logSeveritySys", STRING, LOG),
    TUNES("logDebugFilenameRegex", STRING, LOG),
    FIXED("ipipEnabled"),
    APPLIED("ipipMTU"),
    FIXED("vxlanEnabled"),
    APPLIED("vxlanMTU"),
    APPLIED("vxlanMTUV6"),
    APPLIED("vxlanPort"),
    APPLIED("vxlanVNI"),
    REFUSED("allowVXLANPacketsFromWorkloads", WORKLOAD_FILTER),
    REFUSED("allowIPIPPacketsFromWorkloads", WORKLOAD_FILTER),
    TUNES("reportingInterval", DURATION, OPENSTACK),
    TUNES("reportingTTL", DURATION, OPENSTACK),
    TUNES("endpointReportingEnabled", BOOL, OPENSTACK),
    TUNES("endpointReportingDelay", DURATION, OPENSTACK),
    TUNES("endpointStatusPathPrefix", STRING, OPENSTACK),
    TUNES("iptablesMarkMask", INT, TUNING),
    REFUSED("disableConntrackInvalidCheck", WORKLOAD_FILTER),
    APPLIED("healthEnabled"),
    APPLIED("healthHost"),
    APPLIED("healthPort"),
    TUNES("healthTimeoutOverrides", LIST, TUNING),
    APPLIED("prometheusMetricsEnabled"),
    APPLIED("prometheusMetricsHost"),
    APPLIED("prometheusMetricsPort"),
    TUNES("prometheusGoMetricsEnabled", BOOL, GO),
    TUNES("prometheusProcessMetricsEnabled", BOOL, GO),
    TUNES("prometheusWireGuardMetricsEnabled", BOOL, WIREGUARD),
    APPLIED("failsafeInboundHostPorts"),
    APPLIED("failsafeOutboundHostPorts"),
    REFUSED("kubeNodePortRanges", HOST_IFACES),
    TUNES("policySyncPathPrefix", STRING, TUNING),
    TUNES("usageReportingEnabled", BOOL, USAGE),
    TUNES("usageReportingInitialDelay", DURATION, USAGE),
    TUNES("usageReportingInterval", DURATION, USAGE),
    REFUSED("natPortRange", NAT),
    APPLIED("natOutgoingAddress"),
    REFUSED("natOutgoingExclusions", NAT),
    REFUSED("deviceRouteSourceAddress", ROUTING),
    REFUSED("deviceRouteSourceAddressIPv6", ROUTING),
    REFUSED("deviceRouteProtocol", ROUTING),
    REFUSED("removeExternalRoutes", ROUTING),
    REFUSED("programClusterRoutes", ROUTING),
    REFUSED("ipForwarding", ROUTING),
    REFUSED("externalNodesList", WORKLOAD_FILTER),
    TUNES("debugMemoryProfilePath", STRING, DEBUG),
    TUNES("debugDisableLogDropping", BOOL, DEBUG),
    TUNES("debugSimulateCalcGraphHangAfter", DURATION, DEBUG),
    TUNES("debugSimulateDataplaneHangAfter", DURATION, DEBUG),
    TUNES("debugSimulateDataplaneApplyDelay", DURATION, DEBUG),
    TUNES("debugHost", STRING, DEBUG),
    TUNES("debugPort", INT, DEBUG),
    REFUSED("iptablesNATOutgoingInterfaceFilter", NAT),
    TUNES("sidecarAccelerationEnabled", BOOL, TUNING),
    TUNES("xdpEnabled", BOOL, XDP),
    TUNES("genericXDPEnabled", BOOL, XDP),
    FIXED("nftablesMode"),
    APPLIED("nftablesRefreshInterval"),
    REFUSED("nftablesFilterAllowAction", VERDICT),
    REFUSED("nftablesMangleAllowAction", VERDICT),
    REFUSED("nftablesFilterDenyAction", VERDICT),
    TUNES("nftablesMarkMask", INT, TUNING),
    FIXED("bpfEnabled"),
    TUNES("bpfDisableUnprivileged", BOOL, BPF),
    TUNES("bpfJITHardening", STRING, BPF),
    TUNES("bpfLogLevel", STRING, BPF),
    TUNES("bpfConntrackLogLevel", STRING, BPF),
    TUNES("bpfConntrackMode", STRING, BPF),
    TUNES("bpfConntrackTimeouts", OBJECT, BPF),
    TUNES("bpfLogFilters", OBJECT, BPF),
    TUNES("bpfCTLBLogFilter", STRING, BPF),
    TUNES("bpfDataIfacePattern", STRING, BPF),
    TUNES("bpfL3IfacePattern", STRING, BPF),
    TUNES("bpfConnectTimeLoadBalancingEnabled", BOOL, BPF),
    TUNES("bpfConnectTimeLoadBalancing", STRING, BPF),
    TUNES("bpfHostNetworkedNATWithoutCTLB", STRING, BPF),
    TUNES("bpfExternalServiceMode", STRING, BPF),
    TUNES("bpfDSROptoutCIDRs", LIST, BPF),
    TUNES("bpfExtToServiceConnmark", INT, BPF),
    TUNES("bpfKubeProxyIptablesCleanupEnabled", BOOL, BPF),
    TUNES("bpfKubeProxyMinSyncPeriod", DURATION, BPF),
    TUNES("bpfKubeProxyHealthzPort", INT, BPF),
    TUNES("bpfKubeProxyEndpointSlicesEnabled", BOOL, BPF),
    TUNES("bpfPSNATPorts", PORT, BPF),
    TUNES("bpfMapSizeNATFrontend", INT, BPF),
    TUNES("bpfMapSizeNATBackend", INT, BPF),
    TUNES("bpfMapSizeNATAffinity", INT, BPF),
    TUNES("bpfMapSizeRoute", INT, BPF),
    TUNES("bpfMapSizeConntrack", INT, BPF),
    TUNES("bpfMapSizePerCpuConntrack", INT, BPF),
    TUNES("bpfMapSizeConntrackScaling", STRING, BPF),
    TUNES("bpfMapSizeConntrackCleanupQueue", INT, BPF),
    TUNES("bpfMapSizeIPSets", INT, BPF),
    TUNES("bpfMapSizeIfState", INT, BPF),
    TUNES("bpfHostConntrackBypass", BOOL, BPF),
    TUNES("bpfEnforceRPF", STRING, BPF),
    TUNES("bpfPolicyDebugEnabled", BOOL, BPF),
    TUNES("bpfForceTrackPacketsFromIfaces", LIST, BPF),
    TUNES("bpfDisableGROForIfaces", STRING, BPF),
    TUNES("bpfExcludeCIDRsFromNAT", LIST, BPF),
    TUNES("bpfExportBufferSizeMB", INT, BPF),
    TUNES("cgroupV2Path", STRING, BPF),
    TUNES("flowLogsPolicyEvaluationMode", STRING, FLOWLOGS),
    TUNES("bpfRedirectToPeer", STRING, BPF),
    TUNES("bpfAttachType", STRING, BPF),
    TUNES("flowLogsFlushInterval", DURATION, FLOWLOGS),
    TUNES("flowLogsCollectorDebugTrace", BOOL, FLOWLOGS),
    TUNES("flowLogsGoldmaneServer", STRING, FLOWLOGS),
    TUNES("flowLogsLocalReporter", STRING, FLOWLOGS),
    TUNES("bpfProfiling", STRING, BPF),
    REFUSED("routeSource", ROUTING),
    REFUSED("routeTableRanges", ROUTING),
    REFUSED("routeTableRange", ROUTING),
    REFUSED("routeSyncDisabled", ROUTING),
    REFUSED("wireguardEnabled", WIREGUARD),
    REFUSED("wireguardEnabledV6", WIREGUARD),
    TUNES("wireguardThreadingEnabled", BOOL, WIREGUARD),
    TUNES("wireguardListeningPort", INT, WIREGUARD),
    TUNES("wireguardListeningPortV6", INT, WIREGUARD),
    TUNES("wireguardRoutingRulePriority", INT, WIREGUARD),
    TUNES("wireguardInterfaceName", STRING, WIREGUARD),
    TUNES("wireguardInterfaceNameV6", STRING, WIREGUARD),
    TUNES("wireguardMTU", INT, WIREGUARD),
    TUNES("wireguardMTUV6", INT, WIREGUARD),
    REFUSED("wireguardHostEncryptionEnabled", WIREGUARD),
    TUNES("wireguardKeepAlive", DURATION, WIREGUARD),
    FIXED("awsSrcDstCheck"),
    REFUSED("serviceLoopPrevention", SERVICES),
    APPLIED("workloadSourceSpoofing"),
    TUNES("mtuIfacePattern", STRING, TUNING),
    FIXED("floatingIPs"),
    TUNES("windowsManageFirewallRules", STRING, WINDOWS),
    TUNES("goGCThreshold", INT, GO),
    TUNES("goMemoryLimitMB", INT, GO),
    TUNES("goMaxProcs", INT, GO),
    TUNES("requireMTUFile", BOOL, TUNING),
    TUNES("nodeSelector", STRING, TUNING),
    REFUSED("prometheusMetricsCAFile", METRICS_TLS),
    REFUSED("prometheusMetricsCertFile", METRICS_TLS),
    REFUSED("prometheusMetricsKeyFile", METRICS_TLS),
    REFUSED("prometheusMetricsClientAuth", METRICS_TLS),
    TUNES("nftablesFlowTableOffload", ANY, TUNING),
    TUNES("nftablesFlowTableDataIfacePattern", STRING, TUNING),
    TUNES("bpfOverlayHostSourceIP", STRING, BPF),
    TUNES("bpfIPFragTimeout", ANY, BPF),
    TUNES("bpfIPFragmentReassemblyEnabled", ANY, BPF),
    REFUSED("istioAmbientMode", SERVICES),
    TUNES("istioDSCPMark", ANY, TUNING),
    REFUSED("ipv4NormalRoutePriority", ROUTING),
    REFUSED("ipv4ElevatedRoutePriority", ROUTING),
    REFUSED("ipv6NormalRoutePriority", ROUTING),
    REFUSED("ipv6ElevatedRoutePriority", ROUTING),
    TUNES("liveMigrationRouteConvergenceTime", ANY, TUNING),
    REFUSED("localSubnetL2Reachability", ROUTING),
    TUNES("localSubnetL2ReachabilityRefreshInterval", ANY, TUNING),
    TUNES("bpfMaglevMaxEndpointsPerService", ANY, BPF),
    TUNES("bpfMaglevMaxServices", ANY, BPF),
#undef APPLIED
#undef FIXED
#undef TUNES
#undef REFUSED
};

/* F_FIXED: the values taken, as a JSON array, and why only those. */
static const struct {
    const char *field;
    const char *values;
    const char *why;
} fixed[] = {
    { "bpfEnabled", "[false]", "tabby's dataplane is nftables, not eBPF" },
    { "nftablesMode", "[\"Enabled\", \"Auto\"]", "tabby's dataplane is nftables" },
    { "ipipEnabled", "[true]", "tabby sets up IPIP for the pools that use it" },
    { "vxlanEnabled", "[true]", "tabby sets up VXLAN for the pools that use it" },
    { "floatingIPs", "[\"Disabled\"]", "tabby has no floating IPs" },
    { "useInternalDataplaneDriver", "[true]", "tabby-node is its own dataplane" },
    { "awsSrcDstCheck", "[\"DoNothing\"]", "tabby does not change EC2's source/destination "
                                            "check" },
};

static const char *const severity_names[] = { "Trace", "Debug", "Info", "Warning", "Error",
                                               "Fatal", NULL };

static const struct field *field_of(const char *name, bool any_case)
{
    for (size_t i = 0; i < TBY_ARRAY_SIZE(fields); i++)
        if ((any_case ? strcasecmp : strcmp)(fields[i].name, name) == 0)
            return &fields[i];
    return NULL;
}

const char *tby_felixconfig_field(const char *name)
{
    const struct field *f = field_of(name, true);

    return f ? f->name : NULL;
}

#define FS(proto, num) { .protocol = TBY_PROTO_##proto, .port = num }
static const struct tby_felix_port default_failsafe[2][9] = {
    { FS(TCP, 22), FS(UDP, 68), FS(TCP, 179), FS(TCP, 2379), FS(TCP, 2380), FS(TCP, 5473),
      FS(TCP, 6443), FS(TCP, 6666), FS(TCP, 6667) },
    { FS(UDP, 53), FS(UDP, 67), FS(TCP, 179), FS(TCP, 2379), FS(TCP, 2380), FS(TCP, 5473),
      FS(TCP, 6443), FS(TCP, 6666), FS(TCP, 6667) },
};
#undef FS

const struct tby_felix_port *tby_felix_default_failsafe(bool outbound, size_t *n)
{
    *n = TBY_ARRAY_SIZE(default_failsafe[outbound]);
    return default_failsafe[outbound];
}

static void felix_ports_free(struct tby_felix_ports *p)
{
    free(p->items);
}

static void felixconfig_free(void *spec)
{
    struct tby_felixconfig *c = spec;

    if (!c)
        return;
    free(c->health_host);
    free(c->metrics_host);
    free(c->interface_prefix);
    felix_ports_free(&c->failsafe_in);
    felix_ports_free(&c->failsafe_out);
    json_decref(c->given);
    free(c);
}

static int fixed_index(const char *name)
{
    for (size_t i = 0; i < TBY_ARRAY_SIZE(fixed); i++)
        if (strcmp(fixed[i].field, name) == 0)
            return (int)i;
    return -1;
}

static bool fixed_allows(int i, const json_t *value)
{
    _cleanup_json_ json_t *allowed = json_loads(fixed[i].values, 0, NULL);
    size_t k;
    json_t *a;

    json_array_foreach(allowed, k, a)
        if (json_equal(a, value) ||
            (json_is_string(a) && json_is_string(value) &&
             strcasecmp(json_string_value(a), json_string_value(value)) == 0))
            return true;
    return false;
}

static bool type_ok(enum field_type t, const json_t *v)
{
    switch (t) {
    case T_BOOL: return json_is_boolean(v);
    case T_INT: return json_is_integer(v);
    case T_STRING: return json_is_string(v);
    case T_LIST: return json_is_array(v);
    case T_OBJECT: return json_is_object(v);
    case T_PORT: return json_is_integer(v) || json_is_string(v);
    default: return true;
    }
}

static const char *const type_names[] = {
    [T_BOOL] = "a boolean", [T_INT] = "an integer", [T_DURATION] = "a duration (like 90s)",
    [T_STRING] = "a string", [T_LIST] = "a list", [T_OBJECT] = "an object",
    [T_PORT] = "a port or a range (like 32768:65535)",
};

/* A tuning field: type-checked, then kept as given. */
static int check_tuned(struct tby_dec *d, const struct field *f, const json_t *value)
{
    uint64_t ms;
    bool present;

    if (f->type == T_DURATION) {
        json_t *one = json_pack("{s:O}", f->name, (json_t *)value);
        int r = tby_dec_duration(d, one, f->name, &ms, &present);

        json_decref(one);
        return r;
    }
    if (!type_ok(f->type, value))
        return tby_dec_fail_at(d, f->name, "must be %s, got %s", type_names[f->type],
                               tby_json_type_name(value));
    return 0;
}

/* The fields kept as given (fixed and tuning ones; the applied ones are added as they
 * decode); the refused ones refused (or, lenient, reported and left out). */
static int decode_given(struct tby_dec *d, const json_t *spec, struct tby_felixconfig *c)
{
    const char *key;
    json_t *value;

    json_object_foreach((json_t *)spec, key, value) {
        const struct field *f = field_of(key, false);
        int r = 0, i;

        if (!f || json_is_null(value) || f->cls == F_APPLIED)
            continue;
        if (f->cls == F_REFUSED)
            r = tby_dec_refuse_at(d, key, "is not enforced by tabby: it %s",
                                  refused_why[f->why]);
        else if (f->cls == F_FIXED && !fixed_allows((i = fixed_index(key)), value))
            r = tby_dec_refuse_at(d, key, "only %s is taken: %s", fixed[i].values,
                                  fixed[i].why);
        else if (f->cls == F_TUNES)
            r = check_tuned(d, f, value);
        if (r < 0)
            return r;
        if (r == 0 && f->cls != F_REFUSED && json_object_set(c->given, key, value) < 0)
            return tby_error_set(d->err, -ENOMEM, "out of memory");
    }
    return 0;
}

int tby_felixconfig_ignored(const struct tby_felixconfig *c, struct tby_strv *out)
{
    const char *key;
    json_t *value;

    json_object_foreach(c->given, key, value) {
        const struct field *f = field_of(key, false);

        if (f && f->cls == F_TUNES &&
            tby_strv_pushf(out, "spec.%s: accepted but not applied: it %s", key,
                           tuned_what[f->what]) < 0)
            return -ENOMEM;
    }
    return 0;
}

static int decode_port(struct tby_dec *d, const json_t *spec, const char *field, bool *has,
                       uint16_t *out)
{
    int64_t v = 0;
    int r = tby_dec_int(d, spec, field, 1, 65535, &v, has);

    *out = (uint16_t)v;
    return r;
}

/* Calico's hosts: an IP address, "localhost", or (metrics) "" for every address. */
static int decode_host(struct tby_dec *d, const json_t *spec, const char *field,
                       bool empty_ok, char **out)
{
    struct tby_ip ip;
    int r = tby_dec_string(d, spec, field, false, out);

    if (r < 0 || !*out)
        return r;
    if (strcmp(*out, "localhost") == 0 || (empty_ok && !**out) ||
        tby_ip_parse(*out, &ip, NULL) == 0)
        return 0;
    return tby_dec_fail_at(d, field, "\"%s\" must be an IP address or localhost%s", *out,
                           empty_ok ? " (or \"\" for every address)" : "");
}

static int decode_severity(struct tby_dec *d, const json_t *spec, struct tby_felixconfig *c)
{
    _cleanup_free_ char *text = NULL;
    int r = tby_dec_string(d, spec, "logSeverityScreen", false, &text);

    if (r < 0 || !text || !*text)
        return r;
    for (int i = 0; severity_names[i]; i++) {
        if (strcasecmp(text, severity_names[i]) == 0) {
            c->log_severity = (enum tby_felix_severity)(i + 1);
            return 0;
        }
    }
    return tby_dec_fail_at(d, "logSeverityScreen", "must be one of Trace, Debug, Info, "
                                                   "Warning, Error or Fatal, got \"%s\"", text);
}

static int decode_servers(struct tby_dec *d, const json_t *spec, struct tby_felixconfig *c)
{
    int r = decode_severity(d, spec, c);

    if (r == 0)
        r = tby_dec_bool(d, spec, "healthEnabled", &c->health_enabled);
    c->has_health_enabled = tby_dec_get(spec, "healthEnabled") != NULL;
    if (r == 0)
        r = decode_host(d, spec, "healthHost", false, &c->health_host);
    if (r == 0)
        r = decode_port(d, spec, "healthPort", &c->has_health_port, &c->health_port);
    if (r == 0)
        r = tby_dec_bool(d, spec, "prometheusMetricsEnabled", &c->metrics_enabled);
    c->has_metrics_enabled = tby_dec_get(spec, "prometheusMetricsEnabled") != NULL;
    if (r == 0)
        r = decode_host(d, spec, "prometheusMetricsHost", true, &c->metrics_host);
    if (r == 0)
        r = decode_port(d, spec, "prometheusMetricsPort", &c->has_metrics_port,
                        &c->metrics_port);
    if (r == 0)
        r = tby_dec_duration(d, spec, "routeRefreshInterval", &c->route_refresh_ms,
                             &c->has_route_refresh);
    if (r == 0)
        r = tby_dec_duration(d, spec, "nftablesRefreshInterval", &c->nftables_refresh_ms,
                             &c->has_nftables_refresh);
    if (r == 0)
        r = tby_dec_duration(d, spec, "iptablesRefreshInterval", &c->iptables_refresh_ms,
                             &c->has_iptables_refresh);
    return r;
}

/* ---- the dataplane's fields: decoded, then kept as given ------------------------------- */

static int keep(struct tby_dec *d, const json_t *spec, const char *field,
                struct tby_felixconfig *c)
{
    const json_t *v = tby_dec_get(spec, field);

    if (v && json_object_set(c->given, field, (json_t *)v) < 0)
        return tby_error_set(d->err, -ENOMEM, "out of memory");
    return 0;
}

/* An MTU: 0 (from the uplink's) or within what the family's tunnel can carry. */
static int decode_mtu(struct tby_dec *d, const json_t *spec, const char *field, int64_t min,
                      bool *has, uint32_t *out)
{
    int64_t v = 0;
    int r = tby_dec_int(d, spec, field, 0, 65535, &v, has);

    if (r == 0 && v && v < min)
        r = tby_dec_fail_at(d, field, "must be 0 (from the uplink's MTU) or at least %lld, "
                                      "got %lld", (long long)min, (long long)v);
    *out = (uint32_t)v;
    return r;
}

/* Calico's comma-separated prefixes of workload interfaces. tabby names pods' interfaces
 * tby… and knows a workload interface by its WorkloadEndpoint, never by a prefix: another
 * prefix (Calico's cali) would do nothing, so only tby is taken. */
static int decode_prefix(struct tby_dec *d, const json_t *spec, struct tby_felixconfig *c)
{
    _cleanup_free_ char *copy = NULL;
    char *save = NULL;
    int r = tby_dec_string(d, spec, "interfacePrefix", false, &c->interface_prefix);

    if (r < 0 || !c->interface_prefix)
        return r;
    if (!(copy = strdup(c->interface_prefix)))
        return tby_error_set(d->err, -ENOMEM, "out of memory");
    for (char *p = strtok_r(copy, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
        size_t n;

        while (*p == ' ')
            p++;
        for (n = strlen(p); n && p[n - 1] == ' ';)
            p[--n] = 0;
        if (strcmp(p, "tby") != 0)
            return tby_dec_fail_at(d, "interfacePrefix", "\"%s\": only tby is enforced by "
                                   "tabby (it names pods' interfaces tby…; interfaces with "
                                   "another prefix, such as Calico's cali, would not be "
                                   "treated as workloads')", c->interface_prefix);
    }
    return 0;
}

static int decode_to_host(struct tby_dec *d, const json_t *spec, struct tby_felixconfig *c)
{
    static const char *const names[] = { "Drop", "Accept", "Return", NULL };
    _cleanup_free_ char *text = NULL;
    int r = tby_dec_string(d, spec, "defaultEndpointToHostAction", false, &text);

    if (r < 0 || !text || !*text)
        return r;
    for (int i = 0; names[i]; i++) {
        if (strcasecmp(text, names[i]) == 0) {
            c->to_host = (enum tby_felix_to_host)(i + 1);
            break;
        }
    }
    if (!c->to_host)
        return tby_dec_fail_at(d, "defaultEndpointToHostAction", "must be Drop, Accept or "
                                                                 "Return, got \"%s\"", text);
    /* Drop needs the host endpoints' chains (their own branch): until they drop a pod's
     * traffic to its node, taking Drop would accept what is not enforced. */
    if (TO_HOST_DROP_ENFORCED || c->to_host != TBY_FELIX_TO_HOST_DROP)
        return 0;
    c->to_host = TBY_FELIX_TO_HOST_UNSET;  /* lenient: left out, as Calico wrote it */
    return tby_dec_refuse_at(d, "defaultEndpointToHostAction", "Drop is not enforced by "
                             "tabby yet: a pod reaches its own node once its egress policy "
                             "allows it (Accept)") < 0 ? -EINVAL : 0;
}

static int decode_spoofing(struct tby_dec *d, const json_t *spec, struct tby_felixconfig *c)
{
    _cleanup_free_ char *text = NULL;
    int r = tby_dec_string(d, spec, "workloadSourceSpoofing", false, &text);

    if (r < 0 || !text || !*text)
        return r;
    if (strcasecmp(text, "Disabled") == 0)
        c->spoofing = TBY_FELIX_SPOOFING_DISABLED;
    else if (strcasecmp(text, "Any") == 0)
        c->spoofing = TBY_FELIX_SPOOFING_ANY;
    else
        return tby_dec_fail_at(d, "workloadSourceSpoofing", "must be Disabled or Any, got "
                               "\"%s\"", text);
    return 0;
}

/* {protocol: TCP|UDP (default TCP), port, net: CIDR (default every address)} */
static int felix_port_item(struct tby_dec *d, const json_t *item, void *elem, void *ctx)
{
    static const char *const item_fields[] = { "protocol", "port", "net", NULL };
    struct tby_felix_port *p = elem;
    _cleanup_free_ char *proto = NULL, *net = NULL;
    int64_t port = 0;
    bool present;
    int r = tby_dec_item_object(d, item, item_fields);

    (void)ctx;
    if (r == 0)
        r = tby_dec_string(d, item, "protocol", false, &proto);
    p->protocol = TBY_PROTO_TCP;
    if (r == 0 && proto && strcasecmp(proto, "udp") == 0)
        p->protocol = TBY_PROTO_UDP;
    else if (r == 0 && proto && *proto && strcasecmp(proto, "tcp") != 0)
        r = tby_dec_fail_at(d, "protocol", "must be TCP or UDP, got \"%s\"", proto);
    if (r == 0)
        r = tby_dec_int(d, item, "port", 0, 65535, &port, &present);
    if (r == 0 && !present)
        r = tby_dec_fail_at(d, "port", "is required (0 to 65535)");
    p->port = (uint16_t)port;
    if (r == 0)
        r = tby_dec_string(d, item, "net", false, &net);
    if (r == 0 && net && *net) {
        p->has_net = true;
        r = tby_dec_cidr(d, item, "net", TBY_CIDR_MASK | TBY_CIDR_ALLOW_IP, &p->net);
    }
    return r;
}

static int decode_ports(struct tby_dec *d, const json_t *spec, const char *field,
                        struct tby_felix_ports *out)
{
    void *items = NULL;
    int r;

    out->set = tby_dec_get(spec, field) != NULL;
    r = tby_fields_list(d, spec, field, sizeof(*out->items), felix_port_item, NULL, &items,
                        &out->n);
    out->items = items;
    if (r == 0 && out->n > TBY_FELIX_PORTS_MAX)
        r = tby_dec_fail_at(d, field, "at most %d entries, got %zu", TBY_FELIX_PORTS_MAX,
                            out->n);
    return r;
}

static int decode_dataplane(struct tby_dec *d, const json_t *spec, struct tby_felixconfig *c)
{
    bool has;
    int64_t v = 0;
    int r = tby_dec_bool(d, spec, "ipv6Support", &c->ipv6_support);

    c->has_ipv6_support = tby_dec_get(spec, "ipv6Support") != NULL;
    if (r == 0)
        r = decode_prefix(d, spec, c);
    if (r == 0)
        r = decode_to_host(d, spec, c);
    if (r == 0)
        r = decode_spoofing(d, spec, c);
    if (r == 0)
        r = decode_ports(d, spec, "failsafeInboundHostPorts", &c->failsafe_in);
    if (r == 0)
        r = decode_ports(d, spec, "failsafeOutboundHostPorts", &c->failsafe_out);
    if (r == 0)
        r = tby_dec_int(d, spec, "vxlanVNI", 1, (1 << 24) - 1, &v, &has);
    c->vxlan_vni = (uint32_t)v;
    if (r == 0)
        r = decode_port(d, spec, "vxlanPort", &has, &c->vxlan_port);
    if (r == 0)
        r = decode_mtu(d, spec, "vxlanMTU", 68, &c->has_vxlan_mtu, &c->vxlan_mtu);
    if (r == 0)
        r = decode_mtu(d, spec, "vxlanMTUV6", 1280, &c->has_vxlan_mtu6, &c->vxlan_mtu6);
    if (r == 0)
        r = decode_mtu(d, spec, "ipipMTU", 68, &c->has_ipip_mtu, &c->ipip_mtu);
    if (r == 0)
        r = tby_dec_ip(d, spec, "natOutgoingAddress", 4, &c->nat_address, &c->has_nat_address);
    return r;
}

static const char *const dataplane_fields[] = {
    "ipv6Support", "interfacePrefix", "defaultEndpointToHostAction", "failsafeInboundHostPorts",
    "failsafeOutboundHostPorts", "vxlanVNI", "vxlanPort", "vxlanMTU", "vxlanMTUV6", "ipipMTU",
    "natOutgoingAddress", "workloadSourceSpoofing", NULL
};

/* Only these names configure anything: Calico's felix reads no other. */
static int check_name(struct tby_dec *d, const char *name)
{
    if (strcmp(name, "default") == 0 ||
        (strncmp(name, "node.", 5) == 0 && tby_valid_dns1123_subdomain(name + 5)))
        return 0;
    return tby_dec_fail_at(d, "metadata.name", "\"%s\": a FelixConfiguration is named "
                                               "\"default\" or \"node.<node name>\"", name);
}

static int felixconfig_decode_spec(struct tby_dec *d, const json_t *spec,
                                   const struct tby_resource *res, void *out)
{
    const char *known[TBY_ARRAY_SIZE(fields) + 1];
    struct tby_felixconfig *c = out;
    int r;

    (void)res;
    for (size_t i = 0; i < TBY_ARRAY_SIZE(fields); i++)
        known[i] = fields[i].name;
    known[TBY_ARRAY_SIZE(fields)] = NULL;
    if (!(c->given = json_object()))
        return tby_error_set(d->err, -ENOMEM, "out of memory");
    r = tby_dec_known_fields(d, spec, known);
    if (r == 0)
        r = decode_given(d, spec, c);
    if (r == 0)
        r = decode_servers(d, spec, c);
    if (r == 0)
        r = decode_dataplane(d, spec, c);
    for (size_t i = 0; r == 0 && dataplane_fields[i]; i++)
        if (c->to_host || strcmp(dataplane_fields[i], "defaultEndpointToHostAction") != 0)
            r = keep(d, spec, dataplane_fields[i], c);
    return r;
}

static int felixconfig_decode(struct tby_dec *d, const json_t *doc, struct tby_resource *res)
{
    int r = check_name(d, res->meta.name);

    return r < 0 ? r : tby_kind_decode_spec(d, doc, res, sizeof(struct tby_felixconfig),
                                            felixconfig_decode_spec);
}

static void encode_port(json_t *spec, const char *key, bool has, uint16_t port)
{
    if (has)
        tby_enc_int(spec, key, port);
}

static void felixconfig_encode(const struct tby_resource *res, json_t *doc)
{
    const struct tby_felixconfig *c = res->spec.felixconfig;
    json_t *spec = c->given ? json_deep_copy(c->given) : json_object();

    if (c->log_severity)
        tby_enc_string(spec, "logSeverityScreen", severity_names[c->log_severity - 1]);
    if (c->has_health_enabled)
        tby_enc_bool(spec, "healthEnabled", c->health_enabled);
    tby_enc_string(spec, "healthHost", c->health_host);
    encode_port(spec, "healthPort", c->has_health_port, c->health_port);
    if (c->has_metrics_enabled)
        tby_enc_bool(spec, "prometheusMetricsEnabled", c->metrics_enabled);
    if (c->metrics_host)
        json_object_set_new(spec, "prometheusMetricsHost", json_string(c->metrics_host));
    encode_port(spec, "prometheusMetricsPort", c->has_metrics_port, c->metrics_port);
    tby_enc_duration(spec, "routeRefreshInterval", c->has_route_refresh, c->route_refresh_ms);
    tby_enc_duration(spec, "nftablesRefreshInterval", c->has_nftables_refresh,
                     c->nftables_refresh_ms);
    tby_enc_duration(spec, "iptablesRefreshInterval", c->has_iptables_refresh,
                     c->iptables_refresh_ms);
    json_object_set_new(doc, "spec", spec);
}

static int felixconfig_ignored(const struct tby_resource *res, struct tby_strv *out)
{
    return tby_felixconfig_ignored(res->spec.felixconfig, out);
}

const struct tby_kind_ops tby_felixconfig_ops = {
    .decode = felixconfig_decode,
    .encode = felixconfig_encode,
    .free = felixconfig_free,
    .ignored = felixconfig_ignored,
};
