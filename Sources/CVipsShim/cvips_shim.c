#include <vips/vips.h>
#include <vips/vector.h>
#include "cvips_shim.h"

int cvips_init(const char *argv0) { return VIPS_INIT(argv0); }

void cvips_configure(int cache_max_ops, size_t cache_max_mem, int cache_max_files, int concurrency) {
    vips_cache_set_max(cache_max_ops);
    vips_cache_set_max_mem(cache_max_mem);
    vips_cache_set_max_files(cache_max_files);
    vips_concurrency_set(concurrency);
    // liborc (libvips 8.14's SIMD code generator) crashes freeing programs from several threads at once
    // (SEGV in orc_code_free under concurrent resizes, found with AddressSanitizer): use the C paths.
    vips_vector_set_enabled(FALSE);
}

void cvips_block_untrusted(int state) { vips_block_untrusted_set(state ? TRUE : FALSE); }

void cvips_thread_shutdown(void) { vips_thread_shutdown(); }

const char *cvips_version(void) { return vips_version_string(); }

VipsImage *cvips_header_buffer(const void *buf, size_t len) {
    return vips_image_new_from_buffer(buf, len, "", "access", VIPS_ACCESS_SEQUENTIAL, NULL);
}

VipsImage *cvips_image_from_pixels(const void *data, size_t len, int width, int height, int bands) {
    if ((size_t)width * (size_t)height * (size_t)bands != len) {
        vips_error("cvips", "pixel buffer size does not match %dx%dx%d", width, height, bands);
        return NULL;
    }
    VipsImage *raw = vips_image_new_from_memory_copy(data, len, width, height, bands, VIPS_FORMAT_UCHAR);
    if (!raw) return NULL;
    VipsImage *out = NULL;
    VipsInterpretation interpretation = bands >= 3 ? VIPS_INTERPRETATION_sRGB : VIPS_INTERPRETATION_B_W;
    int rc = vips_copy(raw, &out, "interpretation", interpretation, NULL);
    g_object_unref(raw);
    return rc ? NULL : out;
}

VipsImage *cvips_thumbnail_buffer(const void *buf, size_t len, int width, int height, int size, int crop) {
    VipsSize vsize = size == CVIPS_SIZE_DOWN ? VIPS_SIZE_DOWN : (size == CVIPS_SIZE_FORCE ? VIPS_SIZE_FORCE : VIPS_SIZE_BOTH);
    VipsInteresting interesting = crop ? VIPS_INTERESTING_CENTRE : VIPS_INTERESTING_NONE;
    VipsImage *out = NULL;
    if (vips_thumbnail_buffer((void *)buf, len, &out, width,
                              "height", height, "size", vsize, "crop", interesting,
                              // libvips 8.14's thumbnail_buffer ignores its own "fail_on" argument; passed to
                              // the loader through option_string it works (truncated input then fails the save).
                              "option_string", "fail_on=error", NULL))
        return NULL;
    return out;
}

int cvips_save_buffer(VipsImage *image, int format, int quality, void **out, size_t *out_len) {
    *out = NULL;
    *out_len = 0;
    VipsImage *flat = NULL;
    if (format == CVIPS_FORMAT_JPEG && vips_image_hasalpha(image)) {
        VipsArrayDouble *white = vips_array_double_newv(1, 255.0);
        int rc = vips_flatten(image, &flat, "background", white, NULL);
        vips_area_unref(VIPS_AREA(white));
        if (rc) return -1;
        image = flat;
    }
    int rc;
    switch (format) {
    case CVIPS_FORMAT_JPEG:
        rc = vips_jpegsave_buffer(image, out, out_len, "Q", quality, "strip", TRUE, "optimize_coding", TRUE, NULL);
        break;
    case CVIPS_FORMAT_PNG:
        rc = vips_pngsave_buffer(image, out, out_len, "strip", TRUE, "compression", 6, NULL);
        break;
    case CVIPS_FORMAT_WEBP:
        rc = vips_webpsave_buffer(image, out, out_len, "Q", quality, "strip", TRUE, NULL);
        break;
    case CVIPS_FORMAT_AVIF:
        rc = vips_heifsave_buffer(image, out, out_len, "Q", quality, "strip", TRUE,
                                  "compression", VIPS_FOREIGN_HEIF_COMPRESSION_AV1, NULL);
        break;
    default:
        vips_error("cvips", "unknown output format %d", format);
        rc = -1;
    }
    if (flat) g_object_unref(flat);
    return rc;
}

int cvips_width(VipsImage *image) { return vips_image_get_width(image); }
int cvips_height(VipsImage *image) { return vips_image_get_height(image); }
int cvips_bands(VipsImage *image) { return vips_image_get_bands(image); }
int cvips_has_alpha(VipsImage *image) { return vips_image_hasalpha(image) ? 1 : 0; }

const char *cvips_loader(VipsImage *image) {
    const char *loader = NULL;
    if (vips_image_get_typeof(image, VIPS_META_LOADER) == 0) return NULL;
    if (vips_image_get_string(image, VIPS_META_LOADER, &loader)) return NULL;
    return loader;
}

void cvips_unref(VipsImage *image) { if (image) g_object_unref(image); }
void cvips_free(void *p) { g_free(p); }
char *cvips_error_take(void) { return vips_error_buffer_copy(); }
