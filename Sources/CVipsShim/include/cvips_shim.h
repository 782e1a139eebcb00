// Non-variadic wrappers around the libvips calls Porter uses (Swift cannot call C variadic functions,
// and VIPS_INIT is a macro). Images are passed as opaque `struct _VipsImage *` so Swift never sees glib.
// libvips is not linked: the first call that needs it loads libvips.so.42 with dlopen (once, thread-safe);
// if that fails, calls fail (NULL / -1) and cvips_load_error says why.
#pragma once
#include <stddef.h>

struct _VipsImage;

/// Resize modes for cvips_thumbnail_buffer (mapped to VipsSize).
enum {
    CVIPS_SIZE_BOTH = 0,   // up or down to fit the box
    CVIPS_SIZE_DOWN = 1,   // only shrink
    CVIPS_SIZE_FORCE = 2,  // stretch to exactly width x height
};

/// Output formats for cvips_save_buffer.
enum {
    CVIPS_FORMAT_JPEG = 1,
    CVIPS_FORMAT_PNG = 2,
    CVIPS_FORMAT_WEBP = 3,
    CVIPS_FORMAT_AVIF = 4,
};

/// Loads libvips (dlopen) and runs VIPS_INIT, once per process; returns 0 on success.
int cvips_init(void);
/// Why libvips could not be loaded or initialised (dlerror text, missing symbol, ABI mismatch); NULL when it works.
const char *cvips_load_error(void);
/// The libvips enum/ABI values the shim assumes, for checking against the installed headers: the name of
/// the `index`th (e.g. "VIPS_SIZE_DOWN"; "A-B" for a difference of two macros) with its value in *value,
/// or NULL past the end.
const char *cvips_assumed_constant(int index, int *value);
/// The libvips string macro value the shim assumes for `name` (e.g. "VIPS_META_LOADER"), or NULL.
const char *cvips_assumed_string(const char *name);
/// Operation cache limits and the number of threads libvips uses per pipeline.
void cvips_configure(int cache_max_ops, size_t cache_max_mem, int cache_max_files, int concurrency);
/// Blocks (1) or allows (0) loaders/savers libvips marks as untrusted (e.g. ImageMagick, matlab).
void cvips_block_untrusted(int state);
/// Frees thread-local libvips state; call before a thread that used libvips exits.
void cvips_thread_shutdown(void);
/// The libvips version string (NULL when libvips is not available).
const char *cvips_version(void);

/// Opens an image from memory reading only its header (pixels decode lazily); NULL on error.
/// The buffer must outlive the returned image.
struct _VipsImage *cvips_header_buffer(const void *buf, size_t len);
/// Builds an sRGB 8-bit image from interleaved pixels (copied); NULL on error.
struct _VipsImage *cvips_image_from_pixels(const void *data, size_t len, int width, int height, int bands);
/// vips_thumbnail_buffer with height, size mode and centre crop; auto-rotates by EXIF; fails on truncated or
/// corrupt input (fail_on=error, reported when pixels are decoded, i.e. by cvips_save_buffer); NULL on error.
/// The buffer must stay alive until the result has been saved.
struct _VipsImage *cvips_thumbnail_buffer(const void *buf, size_t len, int width, int height, int size, int crop);
/// Encodes to JPEG/PNG/WebP/AVIF (metadata stripped; alpha flattened on white for JPEG). Free *out with cvips_free.
int cvips_save_buffer(struct _VipsImage *image, int format, int quality, void **out, size_t *out_len);

int cvips_width(struct _VipsImage *image);
int cvips_height(struct _VipsImage *image);
int cvips_bands(struct _VipsImage *image);
int cvips_has_alpha(struct _VipsImage *image);
/// The loader's nickname (e.g. "jpegload_buffer") or NULL; owned by the image.
const char *cvips_loader(struct _VipsImage *image);

/// Drops a reference to an image.
void cvips_unref(struct _VipsImage *image);
/// Frees memory returned by cvips_save_buffer or cvips_error_take.
void cvips_free(void *p);
/// The accumulated libvips error text (copied, then cleared); free with cvips_free.
char *cvips_error_take(void);
