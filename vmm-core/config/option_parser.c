/* SPDX-License-Identifier: Apache-2.0 */
#include "option_parser.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void option_parser_init(OptionParser *p, const char *const *keys)
{
    memset(p, 0, sizeof(*p));
    for (size_t i = 0; keys[i] && p->n < OPTION_MAX_KEYS; i++) {
        p->opts[p->n].name = keys[i];
        p->opts[p->n].requires_value = true;
        p->n++;
    }
}

void option_parser_add_valueless(OptionParser *p, const char *key)
{
    if (p->n < OPTION_MAX_KEYS) {
        p->opts[p->n].name = key;
        p->opts[p->n].requires_value = false;
        p->n++;
    }
}

void option_parser_free(OptionParser *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->opts[i].value);
        p->opts[i].value = NULL;
    }
}

static char *trim_in_place(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t len = strlen(s);
    while (len > 0 && isspace((unsigned char)s[len - 1]))
        s[--len] = '\0';
    return s;
}

/*
 * Splits on commas that are outside brackets and quotes, dropping the quotes,
 * and hands each item to cb. The buffer is modified in place.
 */
static int split_top_level(char *buf, int (*cb)(char *item, void *ud), void *ud, ConfigError *err,
                           const char *whole)
{
    int depth = 0;
    bool in_quotes = false;
    char *item = buf, *w = buf;

    for (char *r = buf;; r++) {
        char c = *r;
        if (c == '\0' || (c == ',' && depth == 0 && !in_quotes)) {
            if (c == '\0' && (depth != 0 || in_quotes))
                return config_error_set(err, CONFIG_ERR_PARSE, "invalid syntax: %.200s", whole);
            *w = '\0';
            int r2 = cb(item, ud);
            if (r2 < 0)
                return r2;
            if (c == '\0')
                return 0;
            item = w = r + 1;
            continue;
        }
        if (c == '[') {
            depth++;
        } else if (c == ']') {
            if (--depth < 0)
                return config_error_set(err, CONFIG_ERR_PARSE, "invalid syntax: %.200s", whole);
        } else if (c == '"') {
            in_quotes = !in_quotes;
            continue; /* quotes group, they are not part of the value */
        }
        *w++ = c;
    }
}

struct parse_ctx {
    OptionParser *p;
    ConfigError *err;
};

static int parse_one(char *item, void *ud)
{
    struct parse_ctx *ctx = ud;
    char *eq = strchr(item, '=');
    if (eq)
        *eq = '\0';

    for (size_t i = 0; i < ctx->p->n; i++) {
        if (strcmp(ctx->p->opts[i].name, item) != 0)
            continue;
        if (ctx->p->opts[i].value)
            return config_error_set(ctx->err, CONFIG_ERR_PARSE, "duplicate option: %.100s", item);
        const char *value = "";
        if (ctx->p->opts[i].requires_value) {
            if (!eq)
                return config_error_set(ctx->err, CONFIG_ERR_PARSE, "invalid syntax: %.200s", item);
            value = trim_in_place(eq + 1);
        }
        ctx->p->opts[i].value = strdup(value);
        if (!ctx->p->opts[i].value)
            return config_error_set(ctx->err, CONFIG_ERR_NO_MEMORY, "out of memory");
        return 0;
    }
    return config_error_set(ctx->err, CONFIG_ERR_PARSE, "unknown option: %.100s", item);
}

int option_parser_parse(OptionParser *p, const char *input, ConfigError *err)
{
    size_t len = strnlen(input, OPTION_MAX_LEN + 1);
    if (len > OPTION_MAX_LEN)
        return config_error_set(err, CONFIG_ERR_PARSE, "option string longer than %u bytes", OPTION_MAX_LEN);

    char *buf = strdup(input);
    if (!buf)
        return config_error_set(err, CONFIG_ERR_NO_MEMORY, "out of memory");
    char *s = trim_in_place(buf);
    int r = 0;
    if (*s != '\0') {
        struct parse_ctx ctx = {p, err};
        r = split_top_level(s, parse_one, &ctx, err, input);
    }
    free(buf);
    return r;
}

static int find(const OptionParser *p, const char *key)
{
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->opts[i].name, key) == 0)
            return (int)i;
    return -1;
}

const char *option_parser_get(const OptionParser *p, const char *key)
{
    int i = find(p, key);
    if (i < 0 || !p->opts[i].value || p->opts[i].value[0] == '\0')
        return NULL;
    return p->opts[i].value;
}

bool option_parser_is_set(const OptionParser *p, const char *key)
{
    int i = find(p, key);
    return i >= 0 && p->opts[i].value != NULL;
}

/* ------------------------------------------------------------ converters */

int parse_uint_strict(const char *s, uint64_t max, uint64_t *out)
{
    /* Rust's u64::from_str: optional '+', then decimal digits only. */
    if (*s == '+')
        s++;
    if (*s == '\0')
        return -EINVAL;
    uint64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -EINVAL;
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -ERANGE;
        v = v * 10 + d;
    }
    if (v > max)
        return -ERANGE;
    *out = v;
    return 0;
}

int parse_byte_size(const char *s, uint64_t *out)
{
    char buf[64];
    size_t len = strlen(s);
    while (len > 0 && isspace((unsigned char)*s)) {
        s++;
        len--;
    }
    while (len > 0 && isspace((unsigned char)s[len - 1]))
        len--;
    if (len == 0 || len >= sizeof(buf))
        return -EINVAL;
    memcpy(buf, s, len);
    buf[len] = '\0';

    unsigned shift = 0;
    switch (buf[len - 1]) {
    case 'K':
        shift = 10;
        break;
    case 'M':
        shift = 20;
        break;
    case 'G':
        shift = 30;
        break;
    }
    /* Like Cloud Hypervisor, strip every trailing K/M/G, then want digits. */
    while (len > 0 && (buf[len - 1] == 'K' || buf[len - 1] == 'M' || buf[len - 1] == 'G'))
        buf[--len] = '\0';

    uint64_t v;
    int r = parse_uint_strict(buf, UINT64_MAX, &v);
    if (r < 0)
        return r;
    if (shift && v > (UINT64_MAX >> shift))
        return -ERANGE;
    *out = v << shift;
    return 0;
}

int parse_toggle(const char *s, bool *out)
{
    if (*s == '\0' || strcasecmp(s, "off") == 0 || strcasecmp(s, "false") == 0) {
        *out = false;
        return 0;
    }
    if (strcasecmp(s, "on") == 0 || strcasecmp(s, "true") == 0) {
        *out = true;
        return 0;
    }
    return -EINVAL;
}

static int conversion_error(ConfigError *err, const char *key, const char *value, int r)
{
    return config_error_set(err, CONFIG_ERR_PARSE, "unable to convert %.200s for %s%s", value, key,
                            r == -ERANGE ? " (out of range)" : "");
}

int option_parser_get_uint(const OptionParser *p, const char *key, uint64_t max, uint64_t *out,
                           ConfigError *err)
{
    const char *v = option_parser_get(p, key);
    if (!v)
        return 0;
    int r = parse_uint_strict(v, max, out);
    if (r < 0)
        return conversion_error(err, key, v, r);
    return 1;
}

int option_parser_get_toggle(const OptionParser *p, const char *key, bool *out, ConfigError *err)
{
    const char *v = option_parser_get(p, key);
    if (!v)
        return 0;
    if (parse_toggle(v, out) < 0)
        return conversion_error(err, key, v, -EINVAL);
    return 1;
}

int option_parser_get_size(const OptionParser *p, const char *key, uint64_t *out, ConfigError *err)
{
    const char *v = option_parser_get(p, key);
    if (!v)
        return 0;
    int r = parse_byte_size(v, out);
    if (r < 0)
        return conversion_error(err, key, v, r);
    return 1;
}

/* Strips every leading '[' and trailing ']' as Cloud Hypervisor's trim_matches does. */
static char *strip_brackets(char *s)
{
    s = trim_in_place(s);
    while (*s == '[')
        s++;
    size_t len = strlen(s);
    while (len > 0 && s[len - 1] == ']')
        s[--len] = '\0';
    return s;
}

static int push_u64(uint64_t **list, size_t *n, size_t *cap, uint64_t v)
{
    if (*n >= OPTION_MAX_LIST_ITEMS)
        return -E2BIG;
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 8;
        uint64_t *nl = realloc(*list, nc * sizeof(**list));
        if (!nl)
            return -ENOMEM;
        *list = nl;
        *cap = nc;
    }
    (*list)[(*n)++] = v;
    return 0;
}

/* The IntegerList grammar: "[a,b-c,...]" with ascending ranges. */
static int parse_int_list(const char *text, uint64_t max, uint64_t **out, size_t *n)
{
    char *buf = strdup(text);
    if (!buf)
        return -ENOMEM;
    uint64_t *list = NULL;
    size_t count = 0, cap = 0;
    int r = 0;
    char *body = strip_brackets(buf);
    char *save = NULL;

    /* strtok_r would merge empty items; Cloud Hypervisor rejects them. */
    for (char *item = body;; item = save) {
        save = strchr(item, ',');
        if (save)
            *save++ = '\0';
        char *dash = strchr(item, '-');
        uint64_t start, end;
        if (dash) {
            *dash = '\0';
            if (strchr(dash + 1, '-')) {
                r = -EINVAL;
                break;
            }
        }
        if ((r = parse_uint_strict(item, max, &start)) < 0)
            break;
        if ((r = push_u64(&list, &count, &cap, start)) < 0)
            break;
        if (dash) {
            if ((r = parse_uint_strict(dash + 1, max, &end)) < 0)
                break;
            if (start >= end) {
                r = -EINVAL;
                break;
            }
            if (end - start > OPTION_MAX_LIST_ITEMS) {
                r = -E2BIG;
                break;
            }
            for (uint64_t i = start + 1; i <= end && r == 0; i++)
                r = push_u64(&list, &count, &cap, i);
            if (r < 0)
                break;
        }
        if (!save)
            break;
    }
    free(buf);
    if (r < 0) {
        free(list);
        return r;
    }
    *out = list;
    *n = count;
    return 0;
}

int option_parser_get_int_list(const OptionParser *p, const char *key, uint64_t max, uint64_t **out,
                               size_t *n, ConfigError *err)
{
    const char *v = option_parser_get(p, key);
    if (!v)
        return 0;
    int r = parse_int_list(v, max, out, n);
    if (r == -ENOMEM)
        return config_error_set(err, CONFIG_ERR_NO_MEMORY, "out of memory");
    if (r < 0)
        return conversion_error(err, key, v, r == -E2BIG ? -ERANGE : r);
    return 1;
}

void string_list_free(char **list, size_t n)
{
    if (!list)
        return;
    for (size_t i = 0; i < n; i++)
        free(list[i]);
    free(list);
}

int option_parser_get_string_list(const OptionParser *p, const char *key, char ***out, size_t *n,
                                  ConfigError *err)
{
    const char *v = option_parser_get(p, key);
    if (!v)
        return 0;
    char *buf = strdup(v);
    if (!buf)
        return config_error_set(err, CONFIG_ERR_NO_MEMORY, "out of memory");
    char *body = strip_brackets(buf);
    size_t count = 1;
    for (const char *c = body; *c; c++)
        count += *c == ',';
    if (count > OPTION_MAX_LIST_ITEMS) {
        free(buf);
        return conversion_error(err, key, v, -ERANGE);
    }
    char **list = calloc(count, sizeof(*list));
    if (!list) {
        free(buf);
        return config_error_set(err, CONFIG_ERR_NO_MEMORY, "out of memory");
    }
    char *item = body;
    for (size_t i = 0; i < count; i++) {
        char *comma = strchr(item, ',');
        if (comma)
            *comma = '\0';
        list[i] = strdup(item);
        if (!list[i]) {
            string_list_free(list, i);
            free(buf);
            return config_error_set(err, CONFIG_ERR_NO_MEMORY, "out of memory");
        }
        item = comma ? comma + 1 : item + strlen(item);
    }
    free(buf);
    *out = list;
    *n = count;
    return 1;
}

void option_tuples_free(OptionTuple *t, size_t n)
{
    if (!t)
        return;
    for (size_t i = 0; i < n; i++)
        free(t[i].values);
    free(t);
}

struct tuple_ctx {
    OptionTuple *list;
    size_t n, cap;
    uint64_t key_max, value_max;
    bool value_is_list;
    int error; /* errno-style reason for the caller's message */
};

static int parse_tuple_item(char *item, void *ud)
{
    struct tuple_ctx *ctx = ud;
    char *at = strchr(item, '@');
    if (!at || strchr(at + 1, '@')) {
        ctx->error = -EINVAL;
        return -EINVAL;
    }
    *at = '\0';
    if (ctx->n >= OPTION_MAX_LIST_ITEMS) {
        ctx->error = -ERANGE;
        return -ERANGE;
    }
    if (ctx->n == ctx->cap) {
        size_t nc = ctx->cap ? ctx->cap * 2 : 4;
        OptionTuple *nl = realloc(ctx->list, nc * sizeof(*nl));
        if (!nl) {
            ctx->error = -ENOMEM;
            return -ENOMEM;
        }
        ctx->list = nl;
        ctx->cap = nc;
    }
    OptionTuple *t = &ctx->list[ctx->n];
    memset(t, 0, sizeof(*t));
    int r = parse_uint_strict(item, ctx->key_max, &t->key);
    if (r == 0) {
        if (ctx->value_is_list) {
            r = parse_int_list(at + 1, ctx->value_max, &t->values, &t->n_values);
        } else {
            t->values = malloc(sizeof(uint64_t));
            if (!t->values)
                r = -ENOMEM;
            else if ((r = parse_uint_strict(at + 1, ctx->value_max, t->values)) == 0)
                t->n_values = 1;
        }
    }
    if (r < 0) {
        free(t->values);
        ctx->error = r;
        return r;
    }
    ctx->n++;
    return 0;
}

int option_parser_get_tuples(const OptionParser *p, const char *key, uint64_t key_max, bool value_is_list,
                             uint64_t value_max, OptionTuple **out, size_t *n, ConfigError *err)
{
    const char *v = option_parser_get(p, key);
    if (!v)
        return 0;
    size_t len = strlen(v);
    if (len < 2 || v[0] != '[' || v[len - 1] != ']')
        return conversion_error(err, key, v, -EINVAL);

    char *body = strndup(v + 1, len - 2);
    if (!body)
        return config_error_set(err, CONFIG_ERR_NO_MEMORY, "out of memory");
    struct tuple_ctx ctx = {
        .key_max = key_max, .value_max = value_max, .value_is_list = value_is_list};
    ConfigError split_err;
    int r = split_top_level(body, parse_tuple_item, &ctx, &split_err, v);
    free(body);
    if (r < 0) {
        option_tuples_free(ctx.list, ctx.n);
        if (ctx.error == -ENOMEM)
            return config_error_set(err, CONFIG_ERR_NO_MEMORY, "out of memory");
        return conversion_error(err, key, v, ctx.error ? ctx.error : -EINVAL);
    }
    *out = ctx.list;
    *n = ctx.n;
    return 1;
}
