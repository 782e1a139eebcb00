/* LD_PRELOAD heap-allocation counter for bench/allocs.sh.
 *
 *   gcc -O2 -shared -fPIC -o malloc_count.so malloc_count.c -ldl
 *   MALLOC_COUNT_FILE=/tmp/counts LD_PRELOAD=./malloc_count.so program ...
 *
 * Counts calls and requested bytes of malloc, calloc, realloc, posix_memalign, aligned_alloc, memalign and
 * valloc with relaxed atomic counters (free is not counted). Each SIGUSR2 appends one line "allocations bytes"
 * to $MALLOC_COUNT_FILE (the process's signal disposition for SIGUSR2 is replaced).
 *
 * Sampling: with MALLOC_COUNT_SAMPLE=N and MALLOC_COUNT_TRACE=path, every Nth allocation made between the
 * first and the second SIGUSR2 writes its backtrace (backtrace_symbols_fd: one "binary(symbol+off) [addr]" line
 * per frame, then a line "--") to path. Aggregate with bench/allocs.sh's report (swift demangle).
 *
 * The real allocator is glibc's (__libc_malloc & co.), so no dlsym bootstrap is needed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

static atomic_uint_fast64_t allocations;
static atomic_uint_fast64_t bytes;
static atomic_int dumps;
static int count_fd = -1;
static int trace_fd = -1;
static uint64_t sample_every;
static __thread int in_sample;

static void sample(void) {
    if (trace_fd < 0 || in_sample || atomic_load_explicit(&dumps, memory_order_relaxed) != 1) return;
    in_sample = 1;
    void *frames[48];
    int n = backtrace(frames, 48);
    /* frame 0 is sample(), frame 1 the wrapper: skip both */
    if (n > 2) backtrace_symbols_fd(frames + 2, n - 2, trace_fd);
    (void)!write(trace_fd, "--\n", 3);
    in_sample = 0;
}

static inline void count(size_t size) {
    uint64_t n = atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed) + 1;
    atomic_fetch_add_explicit(&bytes, size, memory_order_relaxed);
    if (sample_every && n % sample_every == 0) sample();
}

static char *put_u64(char *p, uint64_t v) {
    char tmp[24];
    int i = 0;
    do { tmp[i++] = (char)('0' + v % 10); v /= 10; } while (v);
    while (i) *p++ = tmp[--i];
    return p;
}

static void on_dump(int sig) {
    (void)sig;
    int saved = errno;
    char line[64], *p = line;
    p = put_u64(p, atomic_load(&allocations));
    *p++ = ' ';
    p = put_u64(p, atomic_load(&bytes));
    *p++ = '\n';
    if (count_fd >= 0) (void)!write(count_fd, line, (size_t)(p - line));
    atomic_fetch_add(&dumps, 1);
    errno = saved;
}

__attribute__((constructor)) static void init(void) {
    const char *path = getenv("MALLOC_COUNT_FILE");
    if (path) count_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    const char *every = getenv("MALLOC_COUNT_SAMPLE"), *trace = getenv("MALLOC_COUNT_TRACE");
    if (every && trace) {
        void *warm[2];
        backtrace(warm, 2); /* loads libgcc_s now, not inside a sampled malloc */
        trace_fd = open(trace, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        sample_every = strtoull(every, NULL, 10);
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_dump;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR2, &sa, NULL);
}

void *malloc(size_t size) { count(size); return __libc_malloc(size); }
void *calloc(size_t n, size_t size) { count(n * size); return __libc_calloc(n, size); }
void *realloc(void *p, size_t size) { count(size); return __libc_realloc(p, size); }
void *memalign(size_t alignment, size_t size) { count(size); return __libc_memalign(alignment, size); }
void *aligned_alloc(size_t alignment, size_t size) { count(size); return __libc_memalign(alignment, size); }
void *valloc(size_t size) { count(size); return __libc_memalign((size_t)sysconf(_SC_PAGESIZE), size); }
int posix_memalign(void **out, size_t alignment, size_t size) {
    if (alignment < sizeof(void *) || (alignment & (alignment - 1))) return EINVAL;
    count(size);
    void *p = __libc_memalign(alignment, size);
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}
