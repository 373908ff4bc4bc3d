/* model_felixconfig.c — FelixConfiguration ("default", "node.<name>"): the settings of
 * tabby-node that Calico keeps in the datastore. Three sorts of fields:
 *   - those tabby-node applies (log level, health and metrics servers, refresh intervals);
 *   - those whose one value is what tabby always does (bpfEnabled: false, vxlanVNI: 4096,
 *     …): taken with that value, kept as written, refused with any other;
 *   - Calico's others, which tune a dataplane tabby does not have or change what it does:
 *     refused, naming the field ("is not enforced by tabby"); a field Calico does not have
 *     either is unknown, as for every kind.
 * A lenient decoder (a FelixConfiguration Calico wrote) skips the refused fields and
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

static const char *const applied_fields[] = {
    "logSeverityScreen", "healthEnabled", "healthHost", "healthPort",
    "prometheusMetricsEnabled", "prometheusMetricsHost", "prometheusMetricsPort",
    "routeRefreshInterval", "nftablesRefreshInterval", "iptablesRefreshInterval",
    "failsafeInboundHostPorts", "failsafeOutboundHostPorts", "defaultEndpointToHostAction",
    NULL
};

/* Fields taken only with the value tabby's behaviour has. */
static const struct {
    const char *field;
    const char *values;     /* the JSON values allowed, as a JSON array */
    const char *why;
} fixed[] = {
    { "bpfEnabled", "[false]", "tabby's dataplane is nftables, not eBPF" },
    { "nftablesMode", "[\"Enabled\", \"Auto\"]", "tabby's dataplane is nftables" },
    { "ipv6Support", "[true]", "tabby programs IPv6 wherever there are IPv6 addresses" },
    { "ipipEnabled", "[true]", "tabby sets up IPIP for the pools that use it" },
    { "vxlanEnabled", "[true]", "tabby sets up VXLAN for the pools that use it" },
    { "vxlanVNI", "[4096]", "tabby's VXLAN device uses VNI 4096" },
    { "vxlanPort", "[4789]", "tabby's VXLAN device uses UDP port 4789" },
    { "floatingIPs", "[\"Disabled\"]", "tabby has no floating IPs" },
    { "reportingInterval", "[\"0s\", \"0\"]", "tabby-node reports no endpoint status" },
};

/* Calico's other fields (3.31): not enforced by tabby. */
static const char *const calico_fields[] = {
    "nodeSelector", "useInternalDataplaneDriver", "dataplaneDriver",
    "dataplaneWatchdogTimeout", "interfaceRefreshInterval", "iptablesPostWriteCheckInterval",
    "iptablesLockProbeInterval", "featureDetectOverride", "featureGates",
    "ipsetsRefreshInterval", "maxIpsetSize", "iptablesBackend", "xdpRefreshInterval",
    "netlinkTimeout", "metadataAddr", "metadataPort", "openstackRegion", "interfacePrefix",
    "interfaceExclude", "chainInsertMode", "iptablesFilterAllowAction",
    "iptablesMangleAllowAction", "iptablesFilterDenyAction", "logPrefix",
    "logActionRateLimit", "logActionRateLimitBurst", "logFilePath", "logSeverityFile",
    "logSeveritySys", "logDebugFilenameRegex", "ipipMTU", "vxlanMTU", "vxlanMTUV6",
    "allowVXLANPacketsFromWorkloads", "allowIPIPPacketsFromWorkloads", "reportingTTL",
    "endpointReportingEnabled", "endpointReportingDelay", "endpointStatusPathPrefix",
    "iptablesMarkMask", "disableConntrackInvalidCheck", "healthTimeoutOverrides",
    "prometheusGoMetricsEnabled", "prometheusProcessMetricsEnabled",
    "prometheusWireGuardMetricsEnabled", "prometheusMetricsCAFile",
    "prometheusMetricsCertFile", "prometheusMetricsKeyFile", "prometheusMetricsClientAuth",
    "kubeNodePortRanges",
    "policySyncPathPrefix", "usageReportingEnabled", "usageReportingInitialDelay",
    "usageReportingInterval", "natPortRange", "natOutgoingAddress", "natOutgoingExclusions",
    "deviceRouteSourceAddress", "deviceRouteSourceAddressIPv6", "deviceRouteProtocol",
    "removeExternalRoutes", "programClusterRoutes", "ipForwarding", "externalNodesList",
    "debugMemoryProfilePath", "debugDisableLogDropping", "debugSimulateCalcGraphHangAfter",
    "debugSimulateDataplaneHangAfter", "debugSimulateDataplaneApplyDelay", "debugHost",
    "debugPort", "iptablesNATOutgoingInterfaceFilter", "sidecarAccelerationEnabled",
    "xdpEnabled", "genericXDPEnabled", "nftablesFlowTableOffload",
    "nftablesFlowTableDataIfacePattern", "nftablesFilterAllowAction",
    "nftablesMangleAllowAction", "nftablesFilterDenyAction", "nftablesMarkMask",
    "bpfOverlayHostSourceIP", "bpfDisableUnprivileged", "bpfJITHardening", "bpfLogLevel",
    "bpfConntrackLogLevel", "bpfConntrackMode", "bpfConntrackTimeouts", "bpfIPFragTimeout",
    "bpfLogFilters", "bpfCTLBLogFilter", "bpfDataIfacePattern", "bpfL3IfacePattern",
    "bpfConnectTimeLoadBalancingEnabled", "bpfConnectTimeLoadBalancing",
    "bpfHostNetworkedNATWithoutCTLB", "bpfExternalServiceMode", "bpfDSROptoutCIDRs",
    "bpfExtToServiceConnmark", "bpfKubeProxyIptablesCleanupEnabled",
    "bpfKubeProxyMinSyncPeriod", "bpfKubeProxyHealthzPort", "bpfPSNATPorts",
    "bpfMapSizeNATFrontend", "bpfMapSizeNATBackend", "bpfMapSizeNATAffinity",
    "bpfMapSizeRoute", "bpfMapSizeConntrack", "bpfMapSizePerCpuConntrack",
    "bpfMapSizeConntrackScaling", "bpfMapSizeConntrackCleanupQueue", "bpfMapSizeIPSets",
    "bpfMapSizeIfState", "bpfHostConntrackBypass", "bpfIPFragmentReassemblyEnabled",
    "bpfEnforceRPF", "bpfPolicyDebugEnabled", "bpfForceTrackPacketsFromIfaces",
    "bpfDisableGROForIfaces", "bpfExcludeCIDRsFromNAT", "bpfExportBufferSizeMB",
    "istioAmbientMode", "istioDSCPMark", "cgroupV2Path", "flowLogsPolicyEvaluationMode",
    "bpfRedirectToPeer", "bpfAttachType", "flowLogsFlushInterval",
    "flowLogsCollectorDebugTrace", "flowLogsGoldmaneServer", "flowLogsLocalReporter",
    "bpfProfiling", "routeSource", "routeTableRanges", "routeTableRange", "routeSyncDisabled",
    "ipv4NormalRoutePriority", "ipv4ElevatedRoutePriority", "ipv6NormalRoutePriority",
    "ipv6ElevatedRoutePriority", "liveMigrationRouteConvergenceTime", "wireguardEnabled",
    "wireguardEnabledV6", "wireguardThreadingEnabled", "wireguardListeningPort",
    "wireguardListeningPortV6", "wireguardRoutingRulePriority", "wireguardInterfaceName",
    "wireguardInterfaceNameV6", "wireguardMTU", "wireguardMTUV6",
    "wireguardHostEncryptionEnabled", "wireguardKeepAlive", "awsSrcDstCheck",
    "serviceLoopPrevention", "workloadSourceSpoofing", "mtuIfacePattern",
    "localSubnetL2Reachability", "localSubnetL2ReachabilityRefreshInterval",
    "windowsManageFirewallRules", "goGCThreshold", "goMemoryLimitMB", "goMaxProcs",
    "requireMTUFile", "bpfMaglevMaxEndpointsPerService", "bpfMaglevMaxServices", NULL
};

static const char *const severity_names[] = { "Trace", "Debug", "Info", "Warning", "Error",
                                               "Fatal", NULL };

const char *tby_felixconfig_field(const char *name)
{
    for (size_t i = 0; applied_fields[i]; i++)
        if (strcasecmp(applied_fields[i], name) == 0)
            return applied_fields[i];
    for (size_t i = 0; i < TBY_ARRAY_SIZE(fixed); i++)
        if (strcasecmp(fixed[i].field, name) == 0)
            return fixed[i].field;
    for (size_t i = 0; calico_fields[i]; i++)
        if (strcasecmp(calico_fields[i], name) == 0)
            return calico_fields[i];
    return NULL;
}

static void felixconfig_free(void *spec)
{
    struct tby_felixconfig *c = spec;

    if (!c)
        return;
    free(c->health_host);
    free(c->metrics_host);
    free(c->failsafe_in);
    free(c->failsafe_out);
    json_decref(c->fixed);
    free(c);
}

static bool in_list(const char *const *list, const char *name)
{
    for (size_t i = 0; list[i]; i++)
        if (strcmp(list[i], name) == 0)
            return true;
    return false;
}

static int fixed_index(const char *name)
{
    for (size_t i = 0; i < TBY_ARRAY_SIZE(fixed); i++)
        if (strcmp(fixed[i].field, name) == 0)
            return (int)i;
    return -1;
}

/* Every field: Calico's unenforced ones refused, the others for tby_dec_known_fields. */
static int check_fields(struct tby_dec *d, const json_t *spec)
{
    const char *key;
    json_t *value;

    json_object_foreach((json_t *)spec, key, value) {
        int r;

        if (!in_list(calico_fields, key))
            continue;
        r = tby_dec_refuse_at(d, key, "is not enforced by tabby (a setting of Calico's "
                                      "dataplane that tabby does not have or does otherwise)");
        if (r < 0)
            return r;
    }
    return 0;
}

static int decode_fixed(struct tby_dec *d, const json_t *spec, struct tby_felixconfig *c)
{
    const char *key;
    json_t *value;

    c->fixed = json_object();
    if (!c->fixed)
        return tby_error_set(d->err, -ENOMEM, "out of memory");
    json_object_foreach((json_t *)spec, key, value) {
        int i = fixed_index(key), r;
        _cleanup_json_ json_t *allowed = NULL;
        bool ok = false;
        size_t k;
        json_t *a;

        if (i < 0 || json_is_null(value))
            continue;
        allowed = json_loads(fixed[i].values, 0, NULL);
        json_array_foreach(allowed, k, a)
            ok = ok || json_equal(a, value) ||
                 (json_is_string(a) && json_is_string(value) &&
                  strcasecmp(json_string_value(a), json_string_value(value)) == 0);
        if (ok) {
            if (json_object_set(c->fixed, key, value) < 0)
                return tby_error_set(d->err, -ENOMEM, "out of memory");
            continue;
        }
        r = tby_dec_refuse_at(d, key, "only %s is taken: %s", fixed[i].values, fixed[i].why);
        if (r < 0)
            return r;
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

static int decode_applied(struct tby_dec *d, const json_t *spec, struct tby_felixconfig *c)
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

static const char *const ep_to_host_names[] = { "Drop", "Return", "Accept", NULL };

/* One failsafe port: {protocol, port}, as Calico's ProtoPort (protocol in any case; a
 * `net` is not taken: tabby's failsafe rules match every peer). */
static int decode_proto_port(struct tby_dec *d, const json_t *v, void *elem, void *ctx)
{
    static const char *const fields[] = { "protocol", "port", "net", NULL };
    struct tby_proto_port *pp = elem;
    _cleanup_free_ char *proto = NULL;
    int64_t port = 0;
    int r = tby_dec_expect_object(d, v);

    (void)ctx;
    if (r == 0)
        r = tby_dec_known_fields(d, v, fields);
    if (r == 0 && tby_dec_get(v, "net"))
        r = tby_dec_refuse_at(d, "net", "is not enforced by tabby (failsafe ports match "
                                        "every peer)");
    if (r == 0)
        r = tby_dec_string(d, v, "protocol", false, &proto);
    if (r == 0)
        r = tby_dec_int(d, v, "port", 0, 65535, &port, NULL);
    if (r < 0)
        return r;
    pp->port = (uint16_t)port;
    if (!proto || strcasecmp(proto, "TCP") == 0)
        pp->proto = TBY_PROTO_TCP;
    else if (strcasecmp(proto, "UDP") == 0)
        pp->proto = TBY_PROTO_UDP;
    else if (strcasecmp(proto, "SCTP") == 0)
        pp->proto = TBY_PROTO_SCTP;
    else
        return tby_dec_fail_at(d, "protocol", "must be TCP, UDP or SCTP, got \"%s\"", proto);
    return 0;
}

static int decode_failsafe(struct tby_dec *d, const json_t *spec, const char *field,
                           bool *has, struct tby_proto_port **v, size_t *n)
{
    void *items = NULL;
    int r;

    *has = tby_dec_get(spec, field) != NULL;
    r = tby_dec_list(d, spec, field, sizeof(**v), decode_proto_port, NULL, NULL, &items, n);
    *v = items;
    return r;
}

static int decode_host_policy(struct tby_dec *d, const json_t *spec, struct tby_felixconfig *c)
{
    int a = 0;
    int r = decode_failsafe(d, spec, "failsafeInboundHostPorts", &c->has_failsafe_in,
                            &c->failsafe_in, &c->n_failsafe_in);

    if (r == 0)
        r = decode_failsafe(d, spec, "failsafeOutboundHostPorts", &c->has_failsafe_out,
                            &c->failsafe_out, &c->n_failsafe_out);
    c->has_endpoint_to_host = tby_dec_get(spec, "defaultEndpointToHostAction") != NULL;
    if (r == 0 && c->has_endpoint_to_host) {
        const json_t *v = tby_dec_get(spec, "defaultEndpointToHostAction");
        size_t mark = tby_dec_enter(d, "defaultEndpointToHostAction");

        /* Calico takes any case (ACCEPT in its manifests) */
        r = -EINVAL;
        for (int i = 0; json_is_string(v) && ep_to_host_names[i]; i++)
            if (strcasecmp(json_string_value(v), ep_to_host_names[i]) == 0) {
                a = i;
                r = 0;
            }
        if (r < 0)
            r = tby_dec_fail(d, "must be Drop, Return or Accept");
        tby_dec_leave(d, mark);
        c->endpoint_to_host = (enum tby_ep_to_host)a;
    }
    return r;
}

static void encode_failsafe(json_t *spec, const char *key, bool has,
                            const struct tby_proto_port *v, size_t n)
{
    json_t *a;

    if (!has || !(a = json_array()))
        return;
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_pack("{s:s, s:i}", "protocol",
                                           tby_protocol_name(v[i].proto), "port", v[i].port));
    json_object_set_new(spec, key, a);
}

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
    const char *known[TBY_ARRAY_SIZE(calico_fields) + TBY_ARRAY_SIZE(applied_fields) +
                      TBY_ARRAY_SIZE(fixed)];
    struct tby_felixconfig *c = out;
    size_t n = 0;
    int r;

    (void)res;
    for (size_t i = 0; applied_fields[i]; i++)
        known[n++] = applied_fields[i];
    for (size_t i = 0; i < TBY_ARRAY_SIZE(fixed); i++)
        known[n++] = fixed[i].field;
    /* Calico's unenforced fields are refused (or reported) by check_fields, each once. */
    for (size_t i = 0; calico_fields[i]; i++)
        known[n++] = calico_fields[i];
    known[n] = NULL;
    r = check_fields(d, spec);
    if (r == 0)
        r = tby_dec_known_fields(d, spec, known);
    if (r == 0)
        r = decode_fixed(d, spec, c);
    if (r == 0)
        r = decode_applied(d, spec, c);
    if (r == 0)
        r = decode_host_policy(d, spec, c);
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
    json_t *spec = c->fixed ? json_deep_copy(c->fixed) : json_object();

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
    encode_failsafe(spec, "failsafeInboundHostPorts", c->has_failsafe_in, c->failsafe_in,
                    c->n_failsafe_in);
    encode_failsafe(spec, "failsafeOutboundHostPorts", c->has_failsafe_out, c->failsafe_out,
                    c->n_failsafe_out);
    if (c->has_endpoint_to_host)
        tby_enc_string(spec, "defaultEndpointToHostAction",
                       ep_to_host_names[c->endpoint_to_host]);
    json_object_set_new(doc, "spec", spec);
}

const struct tby_kind_ops tby_felixconfig_ops = {
    .decode = felixconfig_decode,
    .encode = felixconfig_encode,
    .free = felixconfig_free,
};
