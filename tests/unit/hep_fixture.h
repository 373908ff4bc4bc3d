/* hep_fixture.h — what the tests of host endpoints in the calculation share (test_calc_host,
 * test_calc_untracked; include after calc_fixture.h): node-a's endpoints, one named (eth0)
 * and one of all interfaces, both labelled role=edge. */
#ifndef TABBY_TEST_HEP_FIXTURE_H
#define TABBY_TEST_HEP_FIXTURE_H

__attribute__((unused)) static const char *const eth0 =
    "apiVersion: projectcalico.org/v3\nkind: HostEndpoint\n"
    "metadata: {name: node-a-eth0, labels: {role: edge}}\n"
    "spec: {node: node-a, interfaceName: eth0, expectedIPs: [192.0.2.10]}\n";

__attribute__((unused)) static const char *const any_iface =
    "apiVersion: projectcalico.org/v3\nkind: HostEndpoint\n"
    "metadata: {name: node-a-any, labels: {role: edge}}\n"
    "spec: {node: node-a, interfaceName: '*'}\n";

#endif
