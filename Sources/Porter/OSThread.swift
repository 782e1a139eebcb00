#if canImport(Glibc)
import Glibc
#endif

/// Detached OS threads: the one thread primitive behind the transport's workers, blocking pools and test clients.
public enum OSThread {
    /// Starts a detached thread running `body`; `name` (up to 15 bytes) shows in `ps -L`/`top -H`, `stackSize`
    /// overrides the default stack, and `owner` marks the thread as a worker of that executor (see `WorkerThread`).
    public static func start(name: String? = nil, stackSize: Int? = nil, owner: AnyObject? = nil,
                             _ body: @escaping @Sendable () -> Void) {
        let start = ThreadStart(name: name, owner: owner.map { UnsafeRawPointer(Unmanaged.passUnretained($0).toOpaque()) }, body: body)
        let box = Unmanaged.passRetained(start).toOpaque()
        var thread = pthread_t()
        var attr = pthread_attr_t()
        pthread_attr_init(&attr)
        defer { pthread_attr_destroy(&attr) }
        pthread_attr_setdetachstate(&attr, Int32(PTHREAD_CREATE_DETACHED))
        if let stackSize { pthread_attr_setstacksize(&attr, stackSize) }
        let rc = pthread_create(&thread, &attr, { raw in
            let start = Unmanaged<ThreadStart>.fromOpaque(raw!).takeRetainedValue()
            if let name = start.name { OSThread.setCurrentName(name) }
            if let owner = start.owner { pthread_setspecific(WorkerThread.key, owner) }
            start.body()
            return nil
        }, box)
        if rc != 0 {
            Unmanaged<ThreadStart>.fromOpaque(box).release()
            preconditionFailure("pthread_create failed: \(rc)")
        }
    }

    /// The calling thread's name (as `setCurrentName` or the system set it).
    public static var currentName: String {
        let fd = open("/proc/thread-self/comm", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return "" }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 32)
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard n > 0 else { return "" }
        return String(decoding: buffer[0..<n].filter { $0 != 10 }, as: UTF8.self)
    }

    /// Names the calling thread (Linux keeps the first 15 bytes); written to /proc because `prctl` is variadic.
    public static func setCurrentName(_ name: String) {
        let fd = open("/proc/thread-self/comm", O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        let bytes = Array(name.utf8.prefix(15))
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
    }
}

/// The thread-local mark of threads that run sync work for an executor (a transport's workers, a pool's threads).
public enum WorkerThread {
    static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()

    /// Whether the calling thread is a worker thread of any executor (it may block; it is not Swift's pool).
    public static var isCurrent: Bool { pthread_getspecific(key) != nil }

    /// Whether the calling thread was started as a worker of `owner`.
    public static func isCurrent(of owner: AnyObject) -> Bool {
        pthread_getspecific(key) == UnsafeMutableRawPointer(Unmanaged.passUnretained(owner).toOpaque())
    }
}

/// What a new thread runs, handed through `pthread_create`'s argument.
private final class ThreadStart {
    let name: String?
    let owner: UnsafeRawPointer?
    let body: @Sendable () -> Void
    init(name: String?, owner: UnsafeRawPointer?, body: @escaping @Sendable () -> Void) {
        self.name = name
        self.owner = owner
        self.body = body
    }
}
