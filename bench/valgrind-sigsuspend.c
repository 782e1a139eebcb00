// Preloaded under valgrind by bench/callgrind.sh: sigsuspend with the mask copied to the stack.
// Valgrind 3.19 rewrites the mask of rt_sigsuspend in place; libdispatch's signal thread passes one in read-only
// memory, so valgrind itself faults. The system call and its effect are unchanged.
#define _GNU_SOURCE
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

int sigsuspend(const sigset_t *mask) {
    sigset_t copy = *mask;
    return (int)syscall(SYS_rt_sigsuspend, &copy, 8);  // the kernel's sigset is 64 bits
}
