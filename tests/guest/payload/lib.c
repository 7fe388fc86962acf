/* SPDX-License-Identifier: Apache-2.0 */
/* Freestanding basics: memory, formatting, the command line. */
#include "payload.h"

/* String instructions: one emulated instruction per call instead of a loop,
 * and gcc cannot turn them back into calls to memset/memcpy. */
void *memset(void *s, int c, size_t n)
{
    void *d = s;
    __asm__ volatile("rep stosb" : "+D"(d), "+c"(n) : "a"(c) : "memory");
    return s;
}

void *memcpy(void *d, const void *s, size_t n)
{
    void *dd = d;
    __asm__ volatile("rep movsb" : "+D"(dd), "+S"(s), "+c"(n) : : "memory");
    return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
    const unsigned char *x = a, *y = b;
    for (size_t i = 0; i < n; i++)
        if (x[i] != y[i])
            return x[i] - y[i];
    return 0;
}

size_t strlen(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

/* ---- printf-lite: %s %c %d %u %x %p %%, flags '0', width, 'l'/'ll'/'z' ---- */

struct sink {
    char *buf; /* NULL: serial */
    size_t size, len;
};

static void sink_put(struct sink *s, char c)
{
    if (!s->buf) {
        serial_putc(c);
    } else if (s->len + 1 < s->size) {
        s->buf[s->len] = c;
    }
    s->len++;
}

static void put_number(struct sink *s, uint64_t v, unsigned base, bool negative, unsigned width, char pad)
{
    char tmp[24];
    unsigned n = 0;

    do {
        unsigned d = v % base;
        tmp[n++] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
        v /= base;
    } while (v);
    if (negative)
        tmp[n++] = '-';
    while (width > n) {
        sink_put(s, pad);
        width--;
    }
    while (n)
        sink_put(s, tmp[--n]);
}

static void format(struct sink *s, const char *fmt, va_list ap)
{
    for (; *fmt; fmt++) {
        if (*fmt != '%') {
            if (*fmt == '\n' && !s->buf)
                sink_put(s, '\r');
            sink_put(s, *fmt);
            continue;
        }
        fmt++;
        char pad = ' ';
        unsigned width = 0, longs = 0;
        if (*fmt == '0') {
            pad = '0';
            fmt++;
        }
        while (*fmt >= '0' && *fmt <= '9')
            width = width * 10 + (unsigned)(*fmt++ - '0');
        while (*fmt == 'l' || *fmt == 'z') {
            longs++;
            fmt++;
        }
        switch (*fmt) {
        case 's': {
            const char *str = va_arg(ap, const char *);
            if (!str)
                str = "(null)";
            size_t len = strlen(str);
            while (width > len) {
                sink_put(s, ' ');
                width--;
            }
            while (*str)
                sink_put(s, *str++);
            break;
        }
        case 'c':
            sink_put(s, (char)va_arg(ap, int));
            break;
        case 'd': {
            int64_t v = longs ? va_arg(ap, int64_t) : va_arg(ap, int);
            put_number(s, v < 0 ? (uint64_t)-v : (uint64_t)v, 10, v < 0, width, pad);
            break;
        }
        case 'u':
            put_number(s, longs ? va_arg(ap, uint64_t) : va_arg(ap, unsigned), 10, false, width, pad);
            break;
        case 'x':
            put_number(s, longs ? va_arg(ap, uint64_t) : va_arg(ap, unsigned), 16, false, width, pad);
            break;
        case 'p':
            sink_put(s, '0');
            sink_put(s, 'x');
            put_number(s, (uintptr_t)va_arg(ap, void *), 16, false, width, pad);
            break;
        case '%':
            sink_put(s, '%');
            break;
        case '\0':
            return;
        default:
            sink_put(s, '%');
            sink_put(s, *fmt);
            break;
        }
    }
}

void vprint(const char *fmt, va_list ap)
{
    struct sink s = {0};
    format(&s, fmt, ap);
}

void print(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprint(fmt, ap);
    va_end(ap);
}

int snprint(char *buf, size_t size, const char *fmt, ...)
{
    struct sink s = {.buf = buf, .size = size};
    va_list ap;

    va_start(ap, fmt);
    format(&s, fmt, ap);
    va_end(ap);
    if (size)
        buf[s.len < size ? s.len : size - 1] = '\0';
    return (int)s.len;
}

/* ---- command line ---- */

const char *cmdline_get(const char *key, char *buf, size_t size)
{
    const char *p = boot.cmdline;
    size_t klen = strlen(key);

    if (!p || !size)
        return NULL;
    while (*p) {
        while (*p == ' ')
            p++;
        const char *word = p;
        while (*p && *p != ' ')
            p++;
        size_t wlen = (size_t)(p - word);
        if (wlen > klen && word[klen] == '=' && memcmp(word, key, klen) == 0) {
            size_t vlen = wlen - klen - 1;
            if (vlen >= size)
                vlen = size - 1;
            memcpy(buf, word + klen + 1, vlen);
            buf[vlen] = '\0';
            return buf;
        }
    }
    return NULL;
}

bool parse_u64(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    unsigned base = 10;

    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s += 2;
    }
    if (!*s)
        return false;
    for (; *s; s++) {
        unsigned d;
        if (*s >= '0' && *s <= '9')
            d = (unsigned)(*s - '0');
        else if (base == 16 && *s >= 'a' && *s <= 'f')
            d = (unsigned)(*s - 'a' + 10);
        else if (base == 16 && *s >= 'A' && *s <= 'F')
            d = (unsigned)(*s - 'A' + 10);
        else
            break;
        v = v * base + d;
    }
    switch (*s) {
    case '\0':
        break;
    case 'K':
    case 'k':
        v <<= 10;
        s++;
        break;
    case 'M':
    case 'm':
        v <<= 20;
        s++;
        break;
    case 'G':
    case 'g':
        v <<= 30;
        s++;
        break;
    default:
        return false;
    }
    if (*s)
        return false;
    *out = v;
    return true;
}

uint64_t cmdline_get_u64(const char *key, uint64_t def)
{
    char buf[32];
    uint64_t v;

    if (!cmdline_get(key, buf, sizeof(buf)))
        return def;
    if (!parse_u64(buf, &v)) {
        fail("cmdline %s=%s is not a number", key, buf);
        return def;
    }
    return v;
}
