// libfcgi plus the Linux headers Swift's Glibc module does not export (epoll, eventfd, timerfd).
#include <fcgiapp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <sys/prctl.h>

/// Names the calling thread (prctl is variadic, so Swift cannot call it directly).
static inline int porter_set_thread_name(const char *name) { return prctl(PR_SET_NAME, name, 0, 0, 0); }

/// Asks the kernel to send `sig` to this process when its parent (the master) dies.
static inline int porter_set_parent_death_signal(int sig) { return prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0); }

#include <stdint.h>
#include <sys/mman.h>

/// Atomic operations on shared memory (the scoreboard lives in an mmap shared between processes, where Swift's
/// `Atomic` cannot be placed).
static inline int64_t porter_atomic_load(const int64_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static inline void porter_atomic_store(int64_t *p, int64_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }
static inline int64_t porter_atomic_add(int64_t *p, int64_t v) { return __atomic_add_fetch(p, v, __ATOMIC_ACQ_REL); }
/// Orders a sequence lock's plain reads before its closing load of the sequence.
static inline void porter_atomic_fence_acquire(void) { __atomic_thread_fence(__ATOMIC_ACQUIRE); }
static inline void porter_atomic_raise_max(int64_t *p, int64_t v) {
    int64_t seen = __atomic_load_n(p, __ATOMIC_RELAXED);
    while (v > seen && !__atomic_compare_exchange_n(p, &seen, v, 1, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {}
}
/// memfd_create (an anonymous file, inheritable by child processes unless MFD_CLOEXEC).
extern int memfd_create(const char *name, unsigned int flags);
static inline int porter_memfd_create(const char *name) { return memfd_create(name, 0); }
/// accept4 (glibc declares it only under _GNU_SOURCE): accepts with SOCK_CLOEXEC set, no fcntl afterwards.
extern int accept4(int fd, struct sockaddr *addr, socklen_t *addrlen, int flags);
static inline int porter_accept_cloexec(int fd) { return accept4(fd, 0, 0, SOCK_CLOEXEC); }
/// CPUs in this process's affinity mask (sched_getaffinity and CPU_COUNT are declared only under _GNU_SOURCE).
extern int sched_getaffinity(int pid, unsigned long size, void *mask);
static inline int porter_available_cpus(void) {
    unsigned long mask[16] = {0};
    if (sched_getaffinity(0, sizeof mask, mask) != 0) return 0;
    int count = 0;
    for (int i = 0; i < 16; i++) count += __builtin_popcountl(mask[i]);
    return count;
}
