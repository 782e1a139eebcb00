#include <zlib.h>

/// deflateInit2 is a macro (it passes zlib's version and the stream's size): a gzip stream (window bits 15 + 16) at
/// `level`, default memory and strategy.
static inline int porter_deflate_init_gzip(z_streamp stream, int level) {
    return deflateInit2(stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
}
/// inflateInit2 likewise: reads a gzip stream.
static inline int porter_inflate_init_gzip(z_streamp stream) {
    return inflateInit2(stream, 15 + 16);
}
