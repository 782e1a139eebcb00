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
            // Close-on-exec from the start (no extra fcntl per connection); blocking, as libfcgi reads and writes.
            let fd = porter_accept_cloexec(listenFD)
            if fd < 0 && errno == EINTR { continue }
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

    /// Shuts a connection's read side: epoll reports it readable and, once buffered bytes are consumed, reads
    /// see end of input; writes still work, so a request that was already buffered is answered.
    static func shutdownRead(_ fd: Int32) { _ = Glibc.shutdown(fd, Int32(SHUT_RD)) }

    /// The kind of socket `fd` is: whether it is a listening socket.
    static func isListeningSocket(_ fd: Int32) -> Bool {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &value, &length) == 0 else { return false }
        return value != 0
    }

    /// The address a TCP socket is bound to (`0.0.0.0`, `10.0.0.1`, `::`), or nil for other sockets.
    static func boundTCPHost(_ fd: Int32) -> String? {
        guard case .ip(let address)? = PeerCheck.socketAddress(fd, peer: false) else { return nil }
        return address.description
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
