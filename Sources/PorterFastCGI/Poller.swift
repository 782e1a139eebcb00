import CFastCGI
import Glibc

/// The Linux system calls the event loop needs (epoll, eventfd, sockets), behind small Swift functions.
enum Poller {
    /// Interest flags for a connection waiting for its next request.
    static let connectionEvents = UInt32(EPOLLIN.rawValue | EPOLLRDHUP.rawValue | EPOLLONESHOT.rawValue)
    /// Interest flags for the listen socket and the job queue's eventfd.
    static let oneShotIn = UInt32(EPOLLIN.rawValue | EPOLLONESHOT.rawValue)
    /// Interest flags for the stop eventfd (level-triggered: every thread sees it).
    static let levelIn = UInt32(EPOLLIN.rawValue)

    /// A new epoll instance.
    static func create() -> Int32 { epoll_create1(Int32(EPOLL_CLOEXEC)) }

    /// Registers `fd` with `events`, carrying `token`.
    @discardableResult
    static func add(_ epfd: Int32, _ fd: Int32, events: UInt32, token: UInt64) -> Bool {
        var ev = epoll_event()
        ev.events = events
        ev.data.u64 = token
        return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) == 0
    }

    /// Re-arms a one-shot registration.
    @discardableResult
    static func rearm(_ epfd: Int32, _ fd: Int32, events: UInt32, token: UInt64) -> Bool {
        var ev = epoll_event()
        ev.events = events
        ev.data.u64 = token
        return epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev) == 0
    }

    /// Removes `fd` from the set.
    static func remove(_ epfd: Int32, _ fd: Int32) {
        var ev = epoll_event()
        _ = epoll_ctl(epfd, EPOLL_CTL_DEL, fd, &ev)
    }

    /// Waits for one event; returns its token and flags, or nil on timeout/interruption.
    static func wait(_ epfd: Int32, timeoutMilliseconds: Int32) -> (token: UInt64, events: UInt32)? {
        var ev = epoll_event()
        let n = epoll_wait(epfd, &ev, 1, timeoutMilliseconds)
        guard n == 1 else { return nil }
        return (ev.data.u64, ev.events)
    }

    /// A reusable buffer of epoll events owned by one thread.
    final class EventBatch {
        private let events: UnsafeMutablePointer<epoll_event>
        private let capacity: Int32
        /// How many events the last `wait` returned.
        private(set) var count = 0

        init(capacity: Int32) {
            self.capacity = capacity
            events = .allocate(capacity: Int(capacity))
        }

        deinit { events.deallocate() }

        /// Waits for up to `capacity` ready events (forever with -1); 0 on interruption.
        func wait(_ epfd: Int32, timeoutMilliseconds: Int32) -> Int {
            count = Int(max(0, epoll_wait(epfd, events, capacity, timeoutMilliseconds)))
            return count
        }

        /// The token of event `i`.
        func token(_ i: Int) -> UInt64 { events[i].data.u64 }
    }

    /// Whether the flags say the peer hung up or the socket failed.
    static func isHangup(_ events: UInt32) -> Bool {
        events & UInt32(EPOLLHUP.rawValue | EPOLLERR.rawValue) != 0
    }

    /// A non-blocking eventfd.
    static func eventFD() -> Int32 { eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC)) }

    /// Adds one to an eventfd (wakes a waiter).
    static func signal(_ fd: Int32) {
        var one: UInt64 = 1
        _ = Glibc.write(fd, &one, 8)
    }

    /// Resets an eventfd to zero.
    static func drain(_ fd: Int32) {
        var value: UInt64 = 0
        _ = Glibc.read(fd, &value, 8)
    }

    /// Accepts one connection from a non-blocking listen socket; the new fd is blocking (libfcgi needs that).
    static func accept(_ listenFD: Int32) -> Int32 {
        while true {
            let fd = Glibc.accept(listenFD, nil, nil)
            if fd < 0 && errno == EINTR { continue }
            if fd >= 0 { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
            return fd
        }
    }

    /// Makes a descriptor non-blocking.
    static func setNonBlocking(_ fd: Int32) {
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
    }

    /// Sets receive and send timeouts: the backstop for a peer that stops mid-request.
    static func setTimeouts(_ fd: Int32, receiveSeconds: Int, sendSeconds: Int) {
        var rcv = timeval(tv_sec: receiveSeconds, tv_usec: 0)
        var snd = timeval(tv_sec: sendSeconds, tv_usec: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &rcv, socklen_t(MemoryLayout<timeval>.size))
        _ = setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &snd, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Peeks at up to `buffer.count` bytes without consuming them; -1 with EAGAIN when nothing is there.
    static func peek(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) -> Int {
        while true {
            let n = recv(fd, buffer.baseAddress, buffer.count, Int32(MSG_PEEK | MSG_DONTWAIT))
            if n < 0 && errno == EINTR { continue }
            return n
        }
    }

    /// Whether the peer of a connected socket has closed it (checked without blocking or consuming data;
    /// 0x2000 is POLLRDHUP, which Glibc only exports under _GNU_SOURCE).
    static func peerClosed(_ fd: Int32) -> Bool {
        var p = pollfd(fd: fd, events: Int16(0x2000), revents: 0)
        guard poll(&p, 1, 0) == 1 else { return false }
        return p.revents & Int16(0x2000 | POLLHUP | POLLERR) != 0
    }

    /// Closes a descriptor.
    static func close(_ fd: Int32) { _ = Glibc.close(fd) }

    /// Shuts a listening socket down so blocked accepts return.
    static func shutdownSocket(_ fd: Int32) { _ = Glibc.shutdown(fd, Int32(SHUT_RDWR)) }

    /// The kind of socket `fd` is: whether it is a listening socket.
    static func isListeningSocket(_ fd: Int32) -> Bool {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &value, &length) == 0 else { return false }
        return value != 0
    }

    /// Bytes waiting in a listening socket's accept queue is not exposed on Linux for unix sockets;
    /// this returns the number of not-yet-accepted connections for TCP via TCP_INFO when available.
    static func listenQueueLength(_ fd: Int32) -> Int? {
        var info = tcp_info()
        var length = socklen_t(MemoryLayout<tcp_info>.size)
        guard getsockopt(fd, Int32(IPPROTO_TCP), TCP_INFO, &info, &length) == 0 else { return nil }
        return Int(info.tcpi_unacked)
    }

    /// Changes a unix socket's file mode and group so nginx's workers may connect.
    static func setSocketPermissions(path: String, mode: mode_t, group: String?) -> String? {
        if let group {
            guard let gr = getgrnam(group) else { return "unknown group \(group)" }
            guard chown(path, uid_t.max, gr.pointee.gr_gid) == 0 else { return "chown \(path): \(String(cString: strerror(errno)))" }
        }
        guard chmod(path, mode) == 0 else { return "chmod \(path): \(String(cString: strerror(errno)))" }
        return nil
    }
}

/// OS threads for the worker pool, with a thread-local mark telling worker threads apart.
enum WorkerThread {
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()

    /// Whether the calling thread is a Porter worker thread.
    static var isCurrent: Bool { pthread_getspecific(key) != nil }

    /// Starts a detached OS thread named `name` running `body` (marked as a worker when `worker` is true).
    static func start(name: String, worker: Bool, _ body: @escaping @Sendable () -> Void) {
        final class Box: @unchecked Sendable {
            let body: @Sendable () -> Void
            let name: String
            let worker: Bool
            init(_ body: @escaping @Sendable () -> Void, _ name: String, _ worker: Bool) {
                self.body = body; self.name = name; self.worker = worker
            }
        }
        let box = Unmanaged.passRetained(Box(body, name, worker)).toOpaque()
        var thread = pthread_t()
        var attr = pthread_attr_t()
        pthread_attr_init(&attr)
        pthread_attr_setdetachstate(&attr, Int32(PTHREAD_CREATE_DETACHED))
        let rc = pthread_create(&thread, &attr, { raw in
            let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
            _ = porter_set_thread_name(String(box.name.prefix(15)))
            if box.worker { pthread_setspecific(WorkerThread.key, UnsafeRawPointer(bitPattern: 1)) }
            box.body()
            return nil
        }, box)
        pthread_attr_destroy(&attr)
        precondition(rc == 0, "pthread_create failed: \(rc)")
    }
}

/// Process-level controls a worker process needs.
public enum ProcessControl {
    /// Makes the kernel send SIGTERM to this process when its parent exits (a worker whose master died stops).
    public static func terminateWithParent() { _ = porter_set_parent_death_signal(SIGTERM) }
}
