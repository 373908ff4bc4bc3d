/* validate.h — the syntax rules Calico and Kubernetes apply to names, labels, AS numbers,
 * durations and MAC addresses.
 *
 * Owns nothing; pure functions. The bool checks say only yes or no; the parse functions
 * fill a tby_error with what was wrong, for the caller to prefix with a field path.
 */
#ifndef TABBY_VALIDATE_H
#define TABBY_VALIDATE_H

#include <stdbool.h>
#include <stdint.h>

#include "tabby/error.h"

/* RFC 1123 label: [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63 characters. */
bool tby_valid_dns1123_label(const char *s);
/* RFC 1123 subdomain: labels joined by '.', at most 253 characters. */
bool tby_valid_dns1123_subdomain(const char *s);
/* Kubernetes label key: [prefix/]name, prefix a DNS-1123 subdomain, name up to 63
 * characters of [A-Za-z0-9-_.] starting and ending alphanumeric. */
bool tby_valid_label_key(const char *s);
/* Kubernetes label value: empty, or like a key's name part. */
bool tby_valid_label_value(const char *s);
/* Why a label key is invalid (NULL when it is valid); *part is "" or "name ", the part
 * the reason is about, so messages read "invalid label key "x": name must be ...". */
const char *tby_label_key_problem(const char *key, const char **part);
/* Why value[0..len) is not a valid label value, or NULL. */
const char *tby_label_value_problem(const char *value, size_t len);
/* A named port (Kubernetes' IANA_SVC_NAME): 1 to 15 of [a-z0-9-], at least one letter,
 * no "--", not starting or ending with '-'. */
bool tby_valid_port_name(const char *s);
/* A Linux interface name: 1 to 15 characters, no '/', no white space, not "." or "..". */
bool tby_valid_interface_name(const char *s);
/* "aa:bb:cc:dd:ee:ff" (hex digits in either case). */
bool tby_valid_mac(const char *s);

/* An AS number as Calico writes it: plain ("64512", 0 to 4294967295) or dotted
 * ("1.10" = 1*65536 + 10). */
int tby_asn_parse(const char *text, uint32_t *out, struct tby_error *err);
/* A Go-style duration ("120s", "1m30s", "500ms", "2h"): total milliseconds. */
int tby_duration_parse(const char *text, uint64_t *ms_out, struct tby_error *err);
/* The inverse, as Go prints durations ("2m0s", "1.5s", "500ms", "0s"), so that what
 * `calicoctl get` shows reads back the same. Writes into buf and returns it. */
#define TBY_DURATION_STRLEN 48
char *tby_duration_format(uint64_t ms, char *buf);

#endif
