/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The "key=value,key=value" sub-option syntax of Cloud Hypervisor's command
 * line: commas inside [...] or "..." do not split, quotes are dropped, values
 * are trimmed, an empty value counts as unset.
 *
 * Where Cloud Hypervisor silently accepts bad input we refuse it, because
 * these strings come from callers we do not trust (D-Bus, config files):
 *  - a key given twice is an error (Cloud Hypervisor keeps the last one);
 *  - numbers that do not fit their field are an error (it truncates some);
 *  - sizes whose K/M/G shift overflows 64 bits are an error (it wraps);
 *  - an option string longer than OPTION_MAX_LEN is an error.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define OPTION_MAX_LEN (64U * 1024U)
#define OPTION_MAX_KEYS 40
/* Bound on the integers an IntegerList range like [0-4095] may expand to. */
#define OPTION_MAX_LIST_ITEMS 4096

typedef struct OptionParser {
    struct {
        const char *name;
        char *value; /* NULL = not given */
        bool requires_value;
    } opts[OPTION_MAX_KEYS];
    size_t n;
} OptionParser;

/* keys: NULL-terminated list of accepted keys, each requiring a value. */
void option_parser_init(OptionParser *p, const char *const *keys);
/* Accept a key that stands alone ("readonly" rather than "readonly=on"). */
void option_parser_add_valueless(OptionParser *p, const char *key);
void option_parser_free(OptionParser *p);

/* Errors: "unknown option: X", "invalid syntax: X", "duplicate option: X". */
int option_parser_parse(OptionParser *p, const char *input, ConfigError *err);

/* The value, or NULL when the key was not given or given empty. */
const char *option_parser_get(const OptionParser *p, const char *key);
/* True when the key appeared at all (even with an empty value). */
bool option_parser_is_set(const OptionParser *p, const char *key);

/*
 * Typed getters. Each returns 1 when the key is present and converted, 0
 * when it is absent (out untouched), and -EINVAL with
 * "unable to convert VALUE for KEY" (plus the reason) otherwise.
 */
int option_parser_get_uint(const OptionParser *p, const char *key, uint64_t max, uint64_t *out,
                           ConfigError *err);
int option_parser_get_toggle(const OptionParser *p, const char *key, bool *out, ConfigError *err);
int option_parser_get_size(const OptionParser *p, const char *key, uint64_t *out, ConfigError *err);
/* [1,3-5] -> {1,3,4,5}; every item <= max. *out is malloc'ed. */
int option_parser_get_int_list(const OptionParser *p, const char *key, uint64_t max, uint64_t **out,
                               size_t *n, ConfigError *err);
/* [a,b] -> {"a","b"}; *out and its strings are malloc'ed. */
int option_parser_get_string_list(const OptionParser *p, const char *key, char ***out, size_t *n,
                                  ConfigError *err);

/* One "key@value" item of a tuple list like [0@[0,2],1@[1,3]] or [1@15,2@20]. */
typedef struct OptionTuple {
    uint64_t key;
    uint64_t *values; /* one element when the value is a plain integer */
    size_t n_values;
} OptionTuple;

/* value_is_list selects [k@[list]] (true) or [k@int] (false). */
int option_parser_get_tuples(const OptionParser *p, const char *key, uint64_t key_max, bool value_is_list,
                             uint64_t value_max, OptionTuple **out, size_t *n, ConfigError *err);
void option_tuples_free(OptionTuple *t, size_t n);

/* Standalone converters, shared with the getters and the JSON reader. */
int parse_uint_strict(const char *s, uint64_t max, uint64_t *out);
int parse_byte_size(const char *s, uint64_t *out);
int parse_toggle(const char *s, bool *out);
void string_list_free(char **list, size_t n);
