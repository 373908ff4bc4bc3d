/* bgp_internal.h — checks shared by the renderer, gather and the BIRD client (private to
 * bgp/). */
#ifndef TABBY_BGP_INTERNAL_H
#define TABBY_BGP_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

/* A DNS-1123 subdomain (node and resource names). */
bool bgp_name_valid(const char *s);
/* Free text BIRD may hold in a quoted string: letters, digits, spaces and ._:/- only,
 * at most 200 characters. */
bool bgp_text_valid(const char *s);
/* An interface name or pattern for `protocol direct`: 1 to 15 of [A-Za-z0-9_.*-]. */
bool bgp_interface_pattern_valid(const char *s);
/* Frees what a peer of the input owns. */
struct tby_bgp_peer;
void bgp_peer_clear(struct tby_bgp_peer *p);
/* qsort order of struct tby_cidr: by address, then prefix length. */
int bgp_cidr_cmp(const void *a, const void *b);

#endif
