/* SPDX-License-Identifier: Apache-2.0 */
/* The key=value sub-option syntax: Cloud Hypervisor's option_parser cases
 * plus the hostile inputs we refuse where it would accept them. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "option_parser.h"

static const char *const memory_like_keys[] = {"size", "mergeable", "hotplug_method", "hotplug_size",
                                               "topology", "cmdline", NULL};

/* Parses input with a fresh parser; returns the parse result. */
static int parse_fresh(OptionParser *p, const char *input, ConfigError *err)
{
    option_parser_init(p, memory_like_keys);
    return option_parser_parse(p, input, err);
}

static void expect_parse_error(const char *input, const char *message_part)
{
    OptionParser p;
    ConfigError err = {0};
    assert_int_equal(parse_fresh(&p, input, &err), -EINVAL);
    assert_int_equal(err.code, CONFIG_ERR_PARSE);
    if (message_part && !strstr(err.message, message_part))
        fail_msg("input '%s': message '%s' lacks '%s'", input, err.message, message_part);
    option_parser_free(&p);
}

static void test_cloud_hypervisor_cases(void **state)
{
    (void)state;
    OptionParser p;
    ConfigError err;

    expect_parse_error("size=128M,hanging_param", "unknown option: hanging_param");
    expect_parse_error("size=128M,too_many_equals=foo=bar", "unknown option: too_many_equals");
    expect_parse_error("size=128M,file=/dev/shm", "unknown option: file");

    assert_int_equal(parse_fresh(&p, "size=128M", &err), 0);
    assert_string_equal(option_parser_get(&p, "size"), "128M");
    assert_false(option_parser_is_set(&p, "mergeable"));
    assert_true(option_parser_is_set(&p, "size"));
    option_parser_free(&p);

    assert_int_equal(parse_fresh(&p, "size=128M,mergeable=on", &err), 0);
    assert_string_equal(option_parser_get(&p, "size"), "128M");
    assert_string_equal(option_parser_get(&p, "mergeable"), "on");
    option_parser_free(&p);

    assert_int_equal(parse_fresh(&p, "size=128M,mergeable=on,topology=[1,2]", &err), 0);
    assert_string_equal(option_parser_get(&p, "topology"), "[1,2]");
    option_parser_free(&p);

    assert_int_equal(parse_fresh(&p, "size=128M,mergeable=on,topology=[[1,2],[3,4]]", &err), 0);
    assert_string_equal(option_parser_get(&p, "size"), "128M");
    assert_string_equal(option_parser_get(&p, "mergeable"), "on");
    assert_string_equal(option_parser_get(&p, "topology"), "[[1,2],[3,4]]");
    option_parser_free(&p);

    expect_parse_error("topology=[", "invalid syntax");
    expect_parse_error("topology=[[[]]]]", "invalid syntax");

    assert_int_equal(parse_fresh(&p, "cmdline=\"console=ttyS0,9600n8\"", &err), 0);
    assert_string_equal(option_parser_get(&p, "cmdline"), "console=ttyS0,9600n8");
    option_parser_free(&p);

    expect_parse_error("cmdline=\"", "invalid syntax");
    expect_parse_error("cmdline=\"\"\"", "invalid syntax");
}

static void test_empty_and_whitespace(void **state)
{
    (void)state;
    OptionParser p;
    ConfigError err;

    assert_int_equal(parse_fresh(&p, "", &err), 0);
    assert_false(option_parser_is_set(&p, "size"));
    option_parser_free(&p);

    assert_int_equal(parse_fresh(&p, "   ", &err), 0);
    option_parser_free(&p);

    /* Values are trimmed; an empty value counts as unset for get(). */
    assert_int_equal(parse_fresh(&p, " size= 64M ,mergeable=", &err), 0);
    assert_string_equal(option_parser_get(&p, "size"), "64M");
    assert_null(option_parser_get(&p, "mergeable"));
    assert_true(option_parser_is_set(&p, "mergeable"));
    option_parser_free(&p);

    /* A bare key that needs a value, and a lone comma. */
    expect_parse_error("size", "invalid syntax");
    expect_parse_error(",", "unknown option");
    expect_parse_error("=5", "unknown option");
}

static void test_duplicate_key_refused(void **state)
{
    (void)state;
    expect_parse_error("size=1G,size=2G", "duplicate option: size");
}

static void test_oversized_input_refused(void **state)
{
    (void)state;
    size_t len = 1U << 20; /* 1 MiB */
    char *big = malloc(len + 1);
    assert_non_null(big);
    memcpy(big, "cmdline=", 8);
    memset(big + 8, 'a', len - 8);
    big[len] = '\0';
    expect_parse_error(big, "longer than");
    free(big);
}

static void test_unbalanced_brackets(void **state)
{
    (void)state;
    expect_parse_error("topology=]", "invalid syntax");
    expect_parse_error("topology=[[1,2]", "invalid syntax");
    expect_parse_error("topology=[1,2]]", "invalid syntax");
}

static void test_uint(void **state)
{
    (void)state;
    uint64_t v;
    assert_int_equal(parse_uint_strict("0", 255, &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(parse_uint_strict("+42", 255, &v), 0);
    assert_int_equal(v, 42);
    assert_int_equal(parse_uint_strict("255", 255, &v), 0);
    assert_int_equal(parse_uint_strict("256", 255, &v), -ERANGE);
    assert_int_equal(parse_uint_strict("18446744073709551615", UINT64_MAX, &v), 0);
    assert_true(v == UINT64_MAX);
    assert_int_equal(parse_uint_strict("18446744073709551616", UINT64_MAX, &v), -ERANGE);
    assert_int_equal(parse_uint_strict("99999999999999999999999", UINT64_MAX, &v), -ERANGE);
    assert_int_equal(parse_uint_strict("", 255, &v), -EINVAL);
    assert_int_equal(parse_uint_strict("-1", 255, &v), -EINVAL);
    assert_int_equal(parse_uint_strict("0x10", 255, &v), -EINVAL);
    assert_int_equal(parse_uint_strict("1 ", 255, &v), -EINVAL);
    assert_int_equal(parse_uint_strict("+", 255, &v), -EINVAL);
}

static void test_byte_size(void **state)
{
    (void)state;
    uint64_t v;
    assert_int_equal(parse_byte_size("512", &v), 0);
    assert_true(v == 512);
    assert_int_equal(parse_byte_size("4K", &v), 0);
    assert_true(v == 4096);
    assert_int_equal(parse_byte_size("512M", &v), 0);
    assert_true(v == 512ULL << 20);
    assert_int_equal(parse_byte_size(" 2G ", &v), 0);
    assert_true(v == 2ULL << 30);
    /* The largest size that still fits, and the first that does not. */
    assert_int_equal(parse_byte_size("17179869183G", &v), 0);
    assert_true(v == 17179869183ULL << 30);
    assert_int_equal(parse_byte_size("17179869184G", &v), -ERANGE);
    assert_int_equal(parse_byte_size("99999999999G", &v), -ERANGE);
    assert_int_equal(parse_byte_size("", &v), -EINVAL);
    assert_int_equal(parse_byte_size("G", &v), -EINVAL);
    assert_int_equal(parse_byte_size("1T", &v), -EINVAL);
    assert_int_equal(parse_byte_size("1.5G", &v), -EINVAL);
    assert_int_equal(parse_byte_size("-1M", &v), -EINVAL);
}

static void test_toggle(void **state)
{
    (void)state;
    bool b = true;
    const char *truthy[] = {"on", "ON", "true", "True"};
    const char *falsy[] = {"off", "Off", "false", "FALSE", ""};
    for (size_t i = 0; i < sizeof(truthy) / sizeof(*truthy); i++) {
        b = false;
        assert_int_equal(parse_toggle(truthy[i], &b), 0);
        assert_true(b);
    }
    for (size_t i = 0; i < sizeof(falsy) / sizeof(*falsy); i++) {
        b = true;
        assert_int_equal(parse_toggle(falsy[i], &b), 0);
        assert_false(b);
    }
    assert_int_equal(parse_toggle("yes", &b), -EINVAL);
    assert_int_equal(parse_toggle("1", &b), -EINVAL);
}

static const char *const list_keys[] = {"l", "s", "t", NULL};

static void test_int_list(void **state)
{
    (void)state;
    OptionParser p;
    ConfigError err;
    uint64_t *list = NULL;
    size_t n = 0;

    option_parser_init(&p, list_keys);
    assert_int_equal(option_parser_parse(&p, "l=[0,2-5,9]", &err), 0);
    assert_int_equal(option_parser_get_int_list(&p, "l", 255, &list, &n, &err), 1);
    uint64_t expected[] = {0, 2, 3, 4, 5, 9};
    assert_int_equal(n, 6);
    assert_memory_equal(list, expected, sizeof(expected));
    free(list);
    /* Absent key: 0 and nothing allocated. */
    list = NULL;
    assert_int_equal(option_parser_get_int_list(&p, "s", 255, &list, &n, &err), 0);
    assert_null(list);
    option_parser_free(&p);

    const char *bad[] = {"l=[3-1]", "l=[1-1]", "l=[1-2-3]", "l=[a]", "l=[1,,2]", "l=[256]",
                         "l=[0-100000000]", "l=[]"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        option_parser_init(&p, list_keys);
        assert_int_equal(option_parser_parse(&p, bad[i], &err), 0);
        err.code = CONFIG_OK;
        if (option_parser_get_int_list(&p, "l", 255, &list, &n, &err) != -EINVAL)
            fail_msg("'%s' should not convert", bad[i]);
        assert_int_equal(err.code, CONFIG_ERR_PARSE);
        assert_non_null(strstr(err.message, "unable to convert"));
        option_parser_free(&p);
    }
}

static void test_string_list(void **state)
{
    (void)state;
    OptionParser p;
    ConfigError err;
    char **list = NULL;
    size_t n = 0;

    option_parser_init(&p, list_keys);
    assert_int_equal(option_parser_parse(&p, "s=[mem0,mem1]", &err), 0);
    assert_int_equal(option_parser_get_string_list(&p, "s", &list, &n, &err), 1);
    assert_int_equal(n, 2);
    assert_string_equal(list[0], "mem0");
    assert_string_equal(list[1], "mem1");
    string_list_free(list, n);
    option_parser_free(&p);

    option_parser_init(&p, list_keys);
    assert_int_equal(option_parser_parse(&p, "s=single", &err), 0);
    assert_int_equal(option_parser_get_string_list(&p, "s", &list, &n, &err), 1);
    assert_int_equal(n, 1);
    assert_string_equal(list[0], "single");
    string_list_free(list, n);
    option_parser_free(&p);
}

static void test_tuples(void **state)
{
    (void)state;
    OptionParser p;
    ConfigError err;
    OptionTuple *t = NULL;
    size_t n = 0;

    option_parser_init(&p, list_keys);
    assert_int_equal(option_parser_parse(&p, "t=[0@[0,2],1@[1-3]]", &err), 0);
    assert_int_equal(option_parser_get_tuples(&p, "t", 255, true, UINT64_MAX, &t, &n, &err), 1);
    assert_int_equal(n, 2);
    assert_int_equal(t[0].key, 0);
    assert_int_equal(t[0].n_values, 2);
    assert_int_equal(t[0].values[1], 2);
    assert_int_equal(t[1].key, 1);
    assert_int_equal(t[1].n_values, 3);
    assert_int_equal(t[1].values[2], 3);
    option_tuples_free(t, n);
    option_parser_free(&p);

    option_parser_init(&p, list_keys);
    assert_int_equal(option_parser_parse(&p, "t=[1@15,2@20]", &err), 0);
    assert_int_equal(option_parser_get_tuples(&p, "t", UINT32_MAX, false, 255, &t, &n, &err), 1);
    assert_int_equal(n, 2);
    assert_int_equal(t[1].key, 2);
    assert_int_equal(t[1].n_values, 1);
    assert_int_equal(t[1].values[0], 20);
    option_tuples_free(t, n);
    option_parser_free(&p);

    const char *bad[] = {"t=0@1", "t=[0]", "t=[0@1@2]", "t=[x@1]", "t=[1@300]", "t=[]", "t=[0@[1,2]"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        option_parser_init(&p, list_keys);
        if (option_parser_parse(&p, bad[i], &err) == 0) {
            if (option_parser_get_tuples(&p, "t", 255, false, 255, &t, &n, &err) != -EINVAL)
                fail_msg("'%s' should not convert", bad[i]);
        }
        option_parser_free(&p);
    }
}

static void test_valueless(void **state)
{
    (void)state;
    static const char *const keys[] = {"path", NULL};
    OptionParser p;
    ConfigError err;
    option_parser_init(&p, keys);
    option_parser_add_valueless(&p, "readonly");
    assert_int_equal(option_parser_parse(&p, "path=/x,readonly", &err), 0);
    assert_true(option_parser_is_set(&p, "readonly"));
    assert_null(option_parser_get(&p, "readonly"));
    option_parser_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cloud_hypervisor_cases),
        cmocka_unit_test(test_empty_and_whitespace),
        cmocka_unit_test(test_duplicate_key_refused),
        cmocka_unit_test(test_oversized_input_refused),
        cmocka_unit_test(test_unbalanced_brackets),
        cmocka_unit_test(test_uint),
        cmocka_unit_test(test_byte_size),
        cmocka_unit_test(test_toggle),
        cmocka_unit_test(test_int_list),
        cmocka_unit_test(test_string_list),
        cmocka_unit_test(test_tuples),
        cmocka_unit_test(test_valueless),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
