/* test_sha3.c — SHA3-256 against FIPS 202's examples (empty, one block, several blocks,
 * a message ending exactly at the rate) and base32 against RFC 4648, and the label Calico
 * puts on a BlockAffinity of node-1. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "tabby/sha3.h"

static const char *hex(const uint8_t *d, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
    return out;
}

static void assert_sha3(const void *data, size_t len, const char *want)
{
    uint8_t digest[TBY_SHA3_256_LEN];
    char text[2 * TBY_SHA3_256_LEN + 1];

    tby_sha3_256(data, len, digest);
    assert_string_equal(hex(digest, sizeof(digest), text), want);
}

static void test_sha3_256_matches_the_standard_examples(void **state)
{
    char a[1000];

    (void)state;
    assert_sha3("", 0, "a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a");
    assert_sha3("abc", 3, "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532");
    assert_sha3("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56,
                "41c0dba2a9d6240849100376a8235e2c82e1b9998a999e21db32dd97496d3376");
    memset(a, 'a', sizeof(a));
    /* 200 bytes: more than one 136-byte block. */
    assert_sha3(a, 200, "cce34485baf2bf2aca99b94833892a4f52896d3d153f7b840cc4f9fe695f1387");
    /* Exactly the rate: the padding takes a block of its own. */
    assert_sha3(a, 136, "3fc5559f14db8e453a0a3091edbd2bc25e11528d81c66fa570a4efdcc2695ee1");
    assert_sha3(a, 1000, "8f3934e6f7a15698fe0f396b95d8c4440929a8fa6eae140171c068b4549fbf81");
}

static void test_base32_is_rfc4648_without_padding(void **state)
{
    static const char *const want[] = { "", "MY", "MZXQ", "MZXW6", "MZXW6YQ", "MZXW6YTB",
                                        "MZXW6YTBOI" };
    char out[TBY_BASE32_LEN(6)];

    (void)state;
    for (size_t n = 0; n <= 6; n++)
        assert_string_equal(tby_base32("foobar", n, out), want[n]);
}

static void test_node_name_hashes_to_calicos_hostname_label(void **state)
{
    uint8_t digest[TBY_SHA3_256_LEN];
    char label[TBY_BASE32_LEN(TBY_SHA3_256_LEN)];

    (void)state;
    tby_sha3_256("node-1", 6, digest);
    assert_string_equal(tby_base32(digest, sizeof(digest), label),
                        "A3XPYDATRKB7Q4SM2O5FN4RXIHBFIL2PITFX26BAIP5XAB2X74CA");
    assert_int_equal(strlen(label), 52);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha3_256_matches_the_standard_examples),
        cmocka_unit_test(test_base32_is_rfc4648_without_padding),
        cmocka_unit_test(test_node_name_hashes_to_calicos_hostname_label),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
