/* The PNG encoder used by the plot writer (internal to libstats). */
#ifndef THINICE_PNG_ENCODE_H
#define THINICE_PNG_ENCODE_H

#include <stddef.h>
#include <stdint.h>

/* Encodes W x H 8-bit RGB pixels (row-major, 3 bytes each) as a PNG file in a malloc'd
 * buffer. Returns 0, or -1 when memory runs out. */
int ti__png_encode(const unsigned char *rgb, int W, int H, unsigned char **out, size_t *len);

#endif
