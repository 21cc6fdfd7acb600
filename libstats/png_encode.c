/* A minimal PNG encoder (RFC 2083 / RFC 1950-1951): 8-bit RGB scanlines, one deflate block
 * with the fixed Huffman codes and an LZ77 pass that only looks back one pixel and one row.
 * Plots are mostly flat colour, so these two matches already shrink them ~20x, without
 * needing zlib (libstats depends on libm alone). */
#include <stdlib.h>
#include <string.h>

#include "png_encode.h"

typedef struct bytes {
    unsigned char *p;
    size_t len, cap;
    int failed;
    unsigned bitbuf; /* deflate bit writer: pending bits, LSB first */
    int nbits;
} bytes;

static void put_byte(bytes *b, unsigned char c)
{
    if (b->failed)
        return;
    if (b->len == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4096;
        unsigned char *p = realloc(b->p, cap);
        if (!p) {
            b->failed = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    b->p[b->len++] = c;
}

static void put_be32(bytes *b, uint32_t v)
{
    for (int s = 24; s >= 0; s -= 8)
        put_byte(b, (unsigned char)(v >> s));
}

static void put_bits(bytes *b, unsigned v, int n)
{
    b->bitbuf |= v << b->nbits;
    b->nbits += n;
    while (b->nbits >= 8) {
        put_byte(b, (unsigned char)b->bitbuf);
        b->bitbuf >>= 8;
        b->nbits -= 8;
    }
}

/* Huffman codes go most significant bit first into the LSB-first stream. */
static void put_code(bytes *b, unsigned code, int n)
{
    unsigned r = 0;
    for (int i = 0; i < n; i++)
        r |= ((code >> i) & 1u) << (n - 1 - i);
    put_bits(b, r, n);
}

/* The fixed literal/length code of RFC 1951 3.2.6. */
static void put_symbol(bytes *b, int sym)
{
    if (sym < 144)
        put_code(b, 0x30u + (unsigned)sym, 8);
    else if (sym < 256)
        put_code(b, 0x190u + (unsigned)(sym - 144), 9);
    else if (sym < 280)
        put_code(b, (unsigned)(sym - 256), 7);
    else
        put_code(b, 0xc0u + (unsigned)(sym - 280), 8);
}

static const int len_base[29] = {3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27,
                                 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
static const int len_extra[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                  2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
static const int dist_base[30] = {1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129,
                                  193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097,
                                  6145, 8193, 12289, 16385, 24577};
static const int dist_extra[30] = {0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6,
                                   6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};

static void put_match(bytes *b, int len, int dist)
{
    int i = 28;
    while (len_base[i] > len)
        i--;
    put_symbol(b, 257 + i);
    put_bits(b, (unsigned)(len - len_base[i]), len_extra[i]);
    int d = 29;
    while (dist_base[d] > dist)
        d--;
    put_code(b, (unsigned)d, 5);
    put_bits(b, (unsigned)(dist - dist_base[d]), dist_extra[d]);
}

static int match_len(const unsigned char *raw, size_t n, size_t i, size_t dist)
{
    if (dist > i || dist > 32768)
        return 0;
    int len = 0;
    while (len < 258 && i + (size_t)len < n && raw[i + len] == raw[i + len - dist])
        len++;
    return len;
}

static void deflate_fixed(bytes *b, const unsigned char *raw, size_t n, size_t stride)
{
    put_bits(b, 1, 1); /* BFINAL */
    put_bits(b, 1, 2); /* BTYPE 01: fixed Huffman codes */
    for (size_t i = 0; i < n;) {
        int l3 = match_len(raw, n, i, 3), lr = match_len(raw, n, i, stride);
        int len = l3 >= lr ? l3 : lr;
        if (len >= 3) {
            put_match(b, len, l3 >= lr ? 3 : (int)stride);
            i += (size_t)len;
        } else {
            put_symbol(b, raw[i++]);
        }
    }
    put_symbol(b, 256);
    if (b->nbits > 0)
        put_bits(b, 0, 8 - b->nbits);
}

static uint32_t crc32_update(uint32_t crc, const unsigned char *p, size_t n)
{
    crc = ~crc;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

static uint32_t adler32(const unsigned char *p, size_t n)
{
    uint32_t a = 1, s = 0;
    for (size_t i = 0; i < n; i++) {
        a = (a + p[i]) % 65521u;
        s = (s + a) % 65521u;
    }
    return (s << 16) | a;
}

/* Appends a chunk: length, type, data, CRC of type and data. */
static void put_chunk(bytes *b, const char *type, const unsigned char *data, size_t n)
{
    put_be32(b, (uint32_t)n);
    size_t start = b->len;
    for (int i = 0; i < 4; i++)
        put_byte(b, (unsigned char)type[i]);
    for (size_t i = 0; i < n; i++)
        put_byte(b, data[i]);
    if (!b->failed)
        put_be32(b, crc32_update(0, b->p + start, b->len - start));
}

int ti__png_encode(const unsigned char *rgb, int W, int H, unsigned char **out, size_t *len)
{
    size_t stride = (size_t)W * 3 + 1, n = stride * (size_t)H;
    unsigned char *raw = malloc(n);
    if (!raw)
        return -1;
    for (int y = 0; y < H; y++) {
        raw[y * stride] = 0; /* filter: none */
        memcpy(raw + y * stride + 1, rgb + (size_t)y * W * 3, (size_t)W * 3);
    }
    bytes z = {0};
    put_byte(&z, 0x78); /* zlib: deflate, 32K window */
    put_byte(&z, 0x01);
    deflate_fixed(&z, raw, n, stride);
    put_be32(&z, adler32(raw, n));
    free(raw);

    bytes png = {0};
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    for (int i = 0; i < 8; i++)
        put_byte(&png, sig[i]);
    unsigned char ihdr[13];
    for (int i = 0; i < 4; i++) {
        ihdr[i] = (unsigned char)((uint32_t)W >> (24 - 8 * i));
        ihdr[4 + i] = (unsigned char)((uint32_t)H >> (24 - 8 * i));
    }
    ihdr[8] = 8;  /* bit depth */
    ihdr[9] = 2;  /* colour type: RGB */
    ihdr[10] = ihdr[11] = ihdr[12] = 0;
    put_chunk(&png, "IHDR", ihdr, sizeof ihdr);
    if (!z.failed)
        put_chunk(&png, "IDAT", z.p, z.len);
    put_chunk(&png, "IEND", NULL, 0);
    free(z.p);
    if (z.failed || png.failed) {
        free(png.p);
        return -1;
    }
    *out = png.p;
    *len = png.len;
    return 0;
}
