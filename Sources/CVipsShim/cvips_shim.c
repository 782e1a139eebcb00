// The only C that calls libvips. libvips is not linked: it is loaded with dlopen on first use (cvips_init), so
// a process that serves no images never maps libvips and its dependency tree (glib, libjpeg, libheif, …).
// No vips headers are needed to build: the few prototypes and enum values used are declared here, and
// PorterImagesTests checks the values (cvips_assumed_constant) against /usr/include/vips/*.h.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include "cvips_shim.h"

// libvips's ABI (VIPS_LIBRARY_CURRENT - VIPS_LIBRARY_AGE; the soname's major) and the enum values used.
#define V_ABI 42
#define V_SONAME "libvips.so.42"
#define V_ACCESS_SEQUENTIAL 1
#define V_FORMAT_UCHAR 0
#define V_INTERPRETATION_B_W 1
#define V_INTERPRETATION_sRGB 22
#define V_SIZE_BOTH 0
#define V_SIZE_DOWN 2
#define V_SIZE_FORCE 3
#define V_INTERESTING_NONE 0
#define V_INTERESTING_CENTRE 1
#define V_FOREIGN_HEIF_COMPRESSION_AV1 4
#define V_META_LOADER "vips-loader"

static const struct { const char *name; int value; } assumed[] = {
    {"VIPS_LIBRARY_CURRENT-VIPS_LIBRARY_AGE", V_ABI},
    {"VIPS_ACCESS_SEQUENTIAL", V_ACCESS_SEQUENTIAL},
    {"VIPS_FORMAT_UCHAR", V_FORMAT_UCHAR},
    {"VIPS_INTERPRETATION_B_W", V_INTERPRETATION_B_W},
    {"VIPS_INTERPRETATION_sRGB", V_INTERPRETATION_sRGB},
    {"VIPS_SIZE_BOTH", V_SIZE_BOTH},
    {"VIPS_SIZE_DOWN", V_SIZE_DOWN},
    {"VIPS_SIZE_FORCE", V_SIZE_FORCE},
    {"VIPS_INTERESTING_NONE", V_INTERESTING_NONE},
    {"VIPS_INTERESTING_CENTRE", V_INTERESTING_CENTRE},
    {"VIPS_FOREIGN_HEIF_COMPRESSION_AV1", V_FOREIGN_HEIF_COMPRESSION_AV1},
};

const char *cvips_assumed_constant(int index, int *value) {
    if (index < 0 || (size_t)index >= sizeof assumed / sizeof assumed[0]) return NULL;
    *value = assumed[index].value;
    return assumed[index].name;
}

const char *cvips_assumed_string(const char *name) {
    return strcmp(name, "VIPS_META_LOADER") == 0 ? V_META_LOADER : NULL;
}

// The libvips and glib functions used, resolved from the dlopen'ed library (dlsym also searches its
// dependencies, so glib's come from the same handle). Images are `void *` (VipsImage *); gboolean is int;
// GType is unsigned long.
#define VIPS_FUNCTIONS(X) \
    X(1, int, vips_version, (int flag)) \
    X(1, int, vips_init, (const char *argv0)) \
    X(1, void, vips_cache_set_max, (int max)) \
    X(1, void, vips_cache_set_max_mem, (size_t max)) \
    X(1, void, vips_cache_set_max_files, (int max)) \
    X(1, void, vips_concurrency_set, (int concurrency)) \
    X(0, void, vips_vector_set_enabled, (int enabled)) \
    X(1, void, vips_block_untrusted_set, (int state)) \
    X(1, void, vips_thread_shutdown, (void)) \
    X(1, const char *, vips_version_string, (void)) \
    X(1, void *, vips_image_new_from_buffer, (const void *buf, size_t len, const char *options, ...)) \
    X(1, void *, vips_image_new_from_memory_copy, (const void *data, size_t len, int w, int h, int bands, int fmt)) \
    X(1, void, vips_error, (const char *domain, const char *fmt, ...)) \
    X(1, int, vips_copy, (void *in, void **out, ...)) \
    X(1, int, vips_thumbnail_buffer, (void *buf, size_t len, void **out, int width, ...)) \
    X(1, int, vips_image_hasalpha, (void *image)) \
    X(1, void *, vips_array_double_newv, (int n, ...)) \
    X(1, int, vips_flatten, (void *in, void **out, ...)) \
    X(1, void, vips_area_unref, (void *area)) \
    X(1, int, vips_jpegsave_buffer, (void *in, void **buf, size_t *len, ...)) \
    X(1, int, vips_pngsave_buffer, (void *in, void **buf, size_t *len, ...)) \
    X(1, int, vips_webpsave_buffer, (void *in, void **buf, size_t *len, ...)) \
    X(1, int, vips_heifsave_buffer, (void *in, void **buf, size_t *len, ...)) \
    X(1, int, vips_image_get_width, (const void *image)) \
    X(1, int, vips_image_get_height, (const void *image)) \
    X(1, int, vips_image_get_bands, (const void *image)) \
    X(1, unsigned long, vips_image_get_typeof, (const void *image, const char *name)) \
    X(1, int, vips_image_get_string, (const void *image, const char *name, const char **out)) \
    X(1, char *, vips_error_buffer_copy, (void)) \
    X(1, void, g_object_unref, (void *object)) \
    X(1, void, g_free, (void *p))

#define DECLARE(required, ret, name, args) static ret (*p_##name) args;
VIPS_FUNCTIONS(DECLARE)

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int init_rc = -1;
static char load_error[512];

static void load(void) {
    dlerror();
    void *handle = dlopen(V_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        const char *e = dlerror();
        snprintf(load_error, sizeof load_error, "%s", e ? e : V_SONAME ": dlopen failed");
        return;
    }
#define RESOLVE(required, ret, name, args) \
    *(void **)(&p_##name) = dlsym(handle, #name); \
    if (!p_##name && required) { \
        snprintf(load_error, sizeof load_error, "%s: missing symbol %s", V_SONAME, #name); \
        return; \
    }
    VIPS_FUNCTIONS(RESOLVE)
    // VIPS_INIT's check: the library's ABI must be the one these declarations were written for.
    int abi = p_vips_version(3) - p_vips_version(5);
    if (abi != V_ABI) {
        snprintf(load_error, sizeof load_error, "%s has ABI version %d, Porter needs %d", V_SONAME, abi, V_ABI);
        return;
    }
    int rc = p_vips_init("porter");
    __atomic_store_n(&init_rc, rc, __ATOMIC_RELEASE);
    if (rc != 0) {
        char *e = p_vips_error_buffer_copy();
        snprintf(load_error, sizeof load_error, "vips_init failed: %s", e ? e : "");
        p_g_free(e);
    }
}

/// Loads and initialises libvips once; nonzero when it is usable.
static int ready(void) {
    pthread_once(&once, load);
    return init_rc == 0;
}

int cvips_init(void) { return ready() ? 0 : -1; }

const char *cvips_load_error(void) { return ready() ? NULL : load_error; }

void cvips_configure(int cache_max_ops, size_t cache_max_mem, int cache_max_files, int concurrency) {
    if (!ready()) return;
    p_vips_cache_set_max(cache_max_ops);
    p_vips_cache_set_max_mem(cache_max_mem);
    p_vips_cache_set_max_files(cache_max_files);
    p_vips_concurrency_set(concurrency);
    // liborc (libvips 8.14's SIMD code generator) crashes freeing programs from several threads at once
    // (SEGV in orc_code_free under concurrent resizes, found with AddressSanitizer): use the C paths.
    if (p_vips_vector_set_enabled) p_vips_vector_set_enabled(0);
}

void cvips_block_untrusted(int state) { if (ready()) p_vips_block_untrusted_set(state ? 1 : 0); }

// Called when a resize thread exits: a no-op (and no load) when libvips was never loaded.
void cvips_thread_shutdown(void) { if (__atomic_load_n(&init_rc, __ATOMIC_ACQUIRE) == 0) p_vips_thread_shutdown(); }

const char *cvips_version(void) { return ready() ? p_vips_version_string() : NULL; }

struct _VipsImage *cvips_header_buffer(const void *buf, size_t len) {
    if (!ready()) return NULL;
    return p_vips_image_new_from_buffer(buf, len, "", "access", V_ACCESS_SEQUENTIAL, NULL);
}

struct _VipsImage *cvips_image_from_pixels(const void *data, size_t len, int width, int height, int bands) {
    if (!ready()) return NULL;
    if ((size_t)width * (size_t)height * (size_t)bands != len) {
        p_vips_error("cvips", "pixel buffer size does not match %dx%dx%d", width, height, bands);
        return NULL;
    }
    void *raw = p_vips_image_new_from_memory_copy(data, len, width, height, bands, V_FORMAT_UCHAR);
    if (!raw) return NULL;
    void *out = NULL;
    int interpretation = bands >= 3 ? V_INTERPRETATION_sRGB : V_INTERPRETATION_B_W;
    int rc = p_vips_copy(raw, &out, "interpretation", interpretation, NULL);
    p_g_object_unref(raw);
    return rc ? NULL : out;
}

struct _VipsImage *cvips_thumbnail_buffer(const void *buf, size_t len, int width, int height, int size, int crop) {
    if (!ready()) return NULL;
    int vsize = size == CVIPS_SIZE_DOWN ? V_SIZE_DOWN : (size == CVIPS_SIZE_FORCE ? V_SIZE_FORCE : V_SIZE_BOTH);
    int interesting = crop ? V_INTERESTING_CENTRE : V_INTERESTING_NONE;
    void *out = NULL;
    if (p_vips_thumbnail_buffer((void *)buf, len, &out, width,
                                "height", height, "size", vsize, "crop", interesting,
                                // libvips 8.14's thumbnail_buffer ignores its own "fail_on" argument; passed to
                                // the loader through option_string it works (truncated input then fails the save).
                                "option_string", "fail_on=error", NULL))
        return NULL;
    return out;
}

int cvips_save_buffer(struct _VipsImage *image, int format, int quality, void **out, size_t *out_len) {
    *out = NULL;
    *out_len = 0;
    if (!ready()) return -1;
    void *flat = NULL;
    if (format == CVIPS_FORMAT_JPEG && p_vips_image_hasalpha(image)) {
        void *white = p_vips_array_double_newv(1, 255.0);
        int rc = p_vips_flatten(image, &flat, "background", white, NULL);
        p_vips_area_unref(white);  // VIPS_AREA(white): a VipsArrayDouble is a VipsArea
        if (rc) return -1;
        image = flat;
    }
    int rc;
    switch (format) {
    case CVIPS_FORMAT_JPEG:
        rc = p_vips_jpegsave_buffer(image, out, out_len, "Q", quality, "strip", 1, "optimize_coding", 1, NULL);
        break;
    case CVIPS_FORMAT_PNG:
        rc = p_vips_pngsave_buffer(image, out, out_len, "strip", 1, "compression", 6, NULL);
        break;
    case CVIPS_FORMAT_WEBP:
        rc = p_vips_webpsave_buffer(image, out, out_len, "Q", quality, "strip", 1, NULL);
        break;
    case CVIPS_FORMAT_AVIF:
        rc = p_vips_heifsave_buffer(image, out, out_len, "Q", quality, "strip", 1,
                                    "compression", V_FOREIGN_HEIF_COMPRESSION_AV1, NULL);
        break;
    default:
        p_vips_error("cvips", "unknown output format %d", format);
        rc = -1;
    }
    if (flat) p_g_object_unref(flat);
    return rc;
}

// Image accessors: only ever called with an image, i.e. after a successful load.
int cvips_width(struct _VipsImage *image) { return p_vips_image_get_width(image); }
int cvips_height(struct _VipsImage *image) { return p_vips_image_get_height(image); }
int cvips_bands(struct _VipsImage *image) { return p_vips_image_get_bands(image); }
int cvips_has_alpha(struct _VipsImage *image) { return p_vips_image_hasalpha(image) ? 1 : 0; }

const char *cvips_loader(struct _VipsImage *image) {
    const char *loader = NULL;
    if (p_vips_image_get_typeof(image, V_META_LOADER) == 0) return NULL;
    if (p_vips_image_get_string(image, V_META_LOADER, &loader)) return NULL;
    return loader;
}

void cvips_unref(struct _VipsImage *image) { if (image) p_g_object_unref(image); }
void cvips_free(void *p) { if (p && ready()) p_g_free(p); }
char *cvips_error_take(void) { return ready() ? p_vips_error_buffer_copy() : NULL; }
