/* test_digest.c — SHA-1 and SHA-256 against the standards' vectors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tabby/digest.h"

static const char two_blocks[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";

typedef void (*digest_fn)(const void *data, size_t len, uint8_t *out);

static void expect(digest_fn fn, size_t size, const char *text, size_t len, const char *hex)
{
    uint8_t digest[64];
    char got[129];

    fn(text, len, digest);
    tby_hex(digest, size, got);
    assert_string_equal(got, hex);
}

static void expect_repeated(digest_fn fn, size_t size, size_t n, const char *hex)
{
    char *text = malloc(n + 1);

    assert_non_null(text);
    memset(text, 'a', n);
    expect(fn, size, text, n, hex);
    free(text);
}

static void sha1(const void *d, size_t n, uint8_t *o) { tby_sha1(d, n, o); }
static void sha256(const void *d, size_t n, uint8_t *o) { tby_sha256(d, n, o); }

static void test_sha1_matches_the_standards_vectors(void **state)
{
    (void)state;
    expect(sha1, 20, "", 0, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    expect(sha1, 20, "abc", 3, "a9993e364706816aba3e25717850c26c9cd0d89d");
    expect(sha1, 20, two_blocks, strlen(two_blocks), "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
    expect_repeated(sha1, 20, 1000000, "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
}

static void test_sha256_matches_the_standards_vectors(void **state)
{
    (void)state;
    expect(sha256, 32, "", 0,
           "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    expect(sha256, 32, "abc", 3,
           "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    expect(sha256, 32, two_blocks, strlen(two_blocks),
           "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    expect_repeated(sha256, 32, 1000000,
                    "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha1_matches_the_standards_vectors),
        cmocka_unit_test(test_sha256_matches_the_standards_vectors),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
