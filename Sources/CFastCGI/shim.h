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
