import CFastCGI
import Glibc

/// PHP-FPM's scoreboard: shared memory with one slot per worker process and the pool's totals, so any process
/// answering `/status` reports the whole pool.
///
/// The master creates it (a `memfd`, mapped shared) before starting workers; each worker inherits the descriptor,
/// maps it and writes only its own slot, with atomic counters (a worker has many threads). When a worker exits
/// the master folds its counters into the retired totals and frees the slot, so the pool's counters never go down
/// or reset when a worker is replaced. In single-process mode the process keeps a private one-slot scoreboard.
public final class Scoreboard: @unchecked Sendable {
    /// Environment variables a worker finds its scoreboard in: the descriptor and its slot.
    public static let descriptorEnvironmentKey = "PORTER_SCOREBOARD_FD"
    public static let slotEnvironmentKey = "PORTER_SCOREBOARD_SLOT"

    // Layout: a header of 64 Int64 words, then `slotCount` slots of `slotWords` words each.
    static let headerWords = 64
    static let slotWords = 64
    static let magic: Int64 = 0x504f_5254_4552_5342 // "PORTERSB"
    enum Header: Int {
        case magic = 0, slotCount, startTime, sequence, retiredAccepted, retiredSlow, activeProcesses, maxActiveProcesses,
             maxChildrenReached, maxListenQueue, listenQueueLength, totalProcesses
    }
    enum Field: Int {
        case pid = 0, startTime, requests, active, slow, requestStartMicros, lastDurationMicros, contentLength
        static let methodOffset = 16 * 8, methodBytes = 16
        static let uriOffset = methodOffset + methodBytes
        static let uriBytes = Scoreboard.slotWords * 8 - uriOffset
    }

    let base: UnsafeMutableRawPointer
    let byteCount: Int
    /// The shared-memory descriptor (inherited by workers), or -1 for a private scoreboard.
    public let descriptor: Int32
    /// The number of slots.
    public let slotCount: Int

    private init(base: UnsafeMutableRawPointer, byteCount: Int, descriptor: Int32, slotCount: Int) {
        self.base = base
        self.byteCount = byteCount
        self.descriptor = descriptor
        self.slotCount = slotCount
    }

    deinit { munmap(base, byteCount) }

    static func size(slots: Int) -> Int { (headerWords + slots * slotWords) * 8 }

    /// A new scoreboard with `slots` slots: shared (a memfd workers inherit) or private to this process.
    public static func create(slots: Int, shared: Bool) -> Scoreboard? {
        let bytes = size(slots: slots)
        var fd: Int32 = -1
        if shared {
            fd = porter_memfd_create("porter-scoreboard")
            guard fd >= 0, ftruncate(fd, off_t(bytes)) == 0 else { if fd >= 0 { close(fd) }; return nil }
        }
        let p = shared ? mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
                       : mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0)
        guard let p, p != MAP_FAILED else { if fd >= 0 { close(fd) }; return nil }
        memset(p, 0, bytes)
        let board = Scoreboard(base: p, byteCount: bytes, descriptor: fd, slotCount: slots)
        board.store(.slotCount, Int64(slots))
        board.store(.startTime, Int64(time(nil)))
        board.store(.magic, magic)
        return board
    }

    /// The scoreboard a master handed this worker process (from the environment), with this worker's slot.
    public static let inherited: (board: Scoreboard, slot: Int)? = attach(
        descriptor: getenv(descriptorEnvironmentKey).map { String(cString: $0) },
        slot: getenv(slotEnvironmentKey).map { String(cString: $0) })

    /// Maps the scoreboard on descriptor `descriptor` (decimal text) and checks `slot` is one of its slots;
    /// nil for anything else (not a number, not a scoreboard, too small, a slot out of range).
    static func attach(descriptor: String?, slot: String?) -> (board: Scoreboard, slot: Int)? {
        guard let fd = descriptor.flatMap({ Int32($0) }), fd >= 0, let slot = slot.flatMap({ Int($0) }) else { return nil }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_size >= size(slots: 0) else { return nil }
        let bytes = Int(st.st_size)
        guard let p = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), p != MAP_FAILED else { return nil }
        let header = p.assumingMemoryBound(to: Int64.self)
        let slots = Int(header[Header.slotCount.rawValue])
        guard header[Header.magic.rawValue] == magic, slot >= 0, slot < slots, size(slots: slots) <= bytes else {
            munmap(p, bytes)
            return nil
        }
        return (Scoreboard(base: p, byteCount: bytes, descriptor: fd, slotCount: slots), slot)
    }

    // MARK: words

    func word(_ h: Header) -> UnsafeMutablePointer<Int64> {
        (base + h.rawValue * 8).assumingMemoryBound(to: Int64.self)
    }
    func word(slot: Int, _ f: Field) -> UnsafeMutablePointer<Int64> {
        (base + (Self.headerWords + slot * Self.slotWords + f.rawValue) * 8).assumingMemoryBound(to: Int64.self)
    }
    func bytes(slot: Int, offset: Int) -> UnsafeMutablePointer<UInt8> {
        (base + (Self.headerWords + slot * Self.slotWords) * 8 + offset).assumingMemoryBound(to: UInt8.self)
    }
    func load(_ h: Header) -> Int64 { porter_atomic_load(word(h)) }
    func store(_ h: Header, _ v: Int64) { porter_atomic_store(word(h), v) }
    func load(slot: Int, _ f: Field) -> Int64 { porter_atomic_load(word(slot: slot, f)) }

    // MARK: master

    /// Clears `slot` for a new worker (call before starting it); returns false if no slot is free.
    public func firstFreeSlot() -> Int? {
        (0..<slotCount).first { load(slot: $0, .pid) == 0 }
    }

    /// Marks `slot` as used by `pid` (the master calls this once the worker started).
    public func assign(slot: Int, pid: Int32) {
        porter_atomic_store(word(slot: slot, .startTime), Int64(time(nil)))
        porter_atomic_store(word(slot: slot, .pid), Int64(pid))
    }

    /// Folds a finished worker's counters into the pool's retired totals and frees its slot (the master calls
    /// this when it reaps the worker). Readers never see the counters twice or not at all (a sequence lock).
    public func retire(slot: Int) {
        porter_atomic_add(word(.sequence), 1)
        porter_atomic_add(word(.retiredAccepted), load(slot: slot, .requests))
        porter_atomic_add(word(.retiredSlow), load(slot: slot, .slow))
        if load(slot: slot, .active) > 0 { porter_atomic_add(word(.activeProcesses), -1) }
        memset(base + (Self.headerWords + slot * Self.slotWords) * 8, 0, Self.slotWords * 8)
        porter_atomic_add(word(.sequence), 1)
    }

    /// Sets the number of worker processes the master keeps (PHP-FPM's `total processes`).
    public func setTotalProcesses(_ n: Int) { store(.totalProcesses, Int64(n)) }

    /// Records the listen socket's backlog length (PHP-FPM's `listen queue len`).
    public func setListenQueueLength(_ n: Int) { store(.listenQueueLength, Int64(n)) }

    // MARK: worker

    /// A request started in `slot`: counts it, and marks the process active if it was idle.
    func requestStarted(slot: Int, method: String, uri: String, contentLength: Int) {
        porter_atomic_add(word(slot: slot, .requests), 1)
        porter_atomic_store(word(slot: slot, .requestStartMicros), Self.nowMicros())
        porter_atomic_store(word(slot: slot, .contentLength), Int64(contentLength))
        write(method, to: bytes(slot: slot, offset: Field.methodOffset), capacity: Field.methodBytes)
        write(uri, to: bytes(slot: slot, offset: Field.uriOffset), capacity: Field.uriBytes)
        if porter_atomic_add(word(slot: slot, .active), 1) == 1 {
            let active = porter_atomic_add(word(.activeProcesses), 1)
            porter_atomic_raise_max(word(.maxActiveProcesses), active)
            let total = load(.totalProcesses)
            if total > 0 && active >= total { porter_atomic_add(word(.maxChildrenReached), 1) }
        }
    }

    /// A request ended in `slot`: the process goes idle when it was its last one.
    func requestFinished(slot: Int) {
        let started = load(slot: slot, .requestStartMicros)
        porter_atomic_store(word(slot: slot, .lastDurationMicros), max(0, Self.nowMicros() - started))
        if porter_atomic_add(word(slot: slot, .active), -1) == 0 { porter_atomic_add(word(.activeProcesses), -1) }
    }

    /// A request in `slot` was slower than the slow-request threshold.
    func countSlow(slot: Int) { porter_atomic_add(word(slot: slot, .slow), 1) }

    /// Raises `max listen queue` to `queue`.
    func observeListenQueue(_ queue: Int) { porter_atomic_raise_max(word(.maxListenQueue), Int64(queue)) }

    private func write(_ s: String, to p: UnsafeMutablePointer<UInt8>, capacity: Int) {
        // Whole scalars only: never cut a UTF-8 sequence in half. One copy of the bytes (this runs for every request).
        let n = s.withUTF8Bytes { utf8 -> Int in
            var n = min(utf8.count, capacity - 1)
            if n < utf8.count { while n > 0 && utf8[n] & 0xC0 == 0x80 { n -= 1 } } // utf8[n] would start the next scalar
            if n > 0 { p.update(from: utf8.baseAddress!, count: n) }
            return n
        }
        p[n] = 0
    }

    private func read(_ p: UnsafeMutablePointer<UInt8>, capacity: Int) -> String {
        var n = 0
        while n < capacity && p[n] != 0 { n += 1 }
        return String(decoding: UnsafeBufferPointer(start: p, count: n), as: UTF8.self)
    }

    static func nowMicros() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000 + Int64(ts.tv_nsec) / 1000
    }

    // MARK: reading

    /// One worker process as the full status page lists it.
    public struct Process: Sendable, Equatable {
        /// Its process id.
        public var pid: Int32
        /// `Running` while it serves a request, else `Idle` (PHP-FPM's stage names).
        public var state: String
        /// When it started (seconds since 1970).
        public var startTime: Int
        /// Requests it accepted.
        public var requests: Int
        /// Requests it is serving now.
        public var activeRequests: Int
        /// The running request's duration so far, or the last request's, in microseconds.
        public var requestDurationMicros: Int
        /// The last request's method (`-` before the first).
        public var requestMethod: String
        /// The last request's URI (`-` before the first).
        public var requestURI: String
        /// The last request's declared body length.
        public var contentLength: Int
    }

    /// The pool's numbers at one moment (PHP-FPM's status fields).
    public struct Totals: Sendable, Equatable {
        /// When the pool started (seconds since 1970).
        public var startTime: Int
        /// Requests accepted by every worker, past and present (`accepted conn`).
        public var acceptedConnections: Int
        /// Requests slower than the threshold (`slow requests`).
        public var slowRequests: Int
        /// Worker processes serving a request now (`active processes`).
        public var activeProcesses: Int
        /// Worker processes alive (`total processes`).
        public var totalProcesses: Int
        /// The most processes active at once (`max active processes`).
        public var maxActiveProcesses: Int
        /// Times every process was busy when a request started (`max children reached`).
        public var maxChildrenReached: Int
        /// The largest listen queue seen (`max listen queue`).
        public var maxListenQueue: Int
        /// The listen socket's backlog (`listen queue len`).
        public var listenQueueLength: Int
        /// Each live worker.
        public var processes: [Process]
        /// Worker processes waiting for work (`idle processes`).
        public var idleProcesses: Int { max(0, totalProcesses - activeProcesses) }
    }

    /// Sums every slot and the retired totals, consistently with a concurrent `retire`.
    public func totals() -> Totals {
        var result = readOnce()
        for _ in 0..<1000 {
            let before = load(.sequence)
            if before & 1 == 0 {
                result = readOnce()
                if load(.sequence) == before { break }
            }
            sched_yield()
        }
        return result
    }

    private func readOnce() -> Totals {
        var accepted = Int(load(.retiredAccepted))
        var slow = Int(load(.retiredSlow))
        var processes: [Process] = []
        let now = Self.nowMicros()
        for slot in 0..<slotCount {
            let pid = load(slot: slot, .pid)
            let requests = Int(load(slot: slot, .requests))
            accepted += requests
            slow += Int(load(slot: slot, .slow))
            guard pid != 0 else { continue }
            let active = Int(load(slot: slot, .active))
            let started = load(slot: slot, .requestStartMicros)
            let duration = active > 0 ? max(0, now - started) : load(slot: slot, .lastDurationMicros)
            let method = read(bytes(slot: slot, offset: Field.methodOffset), capacity: Field.methodBytes)
            let uri = read(bytes(slot: slot, offset: Field.uriOffset), capacity: Field.uriBytes)
            processes.append(Process(pid: Int32(pid), state: active > 0 ? "Running" : "Idle", startTime: Int(load(slot: slot, .startTime)),
                                     requests: requests, activeRequests: active, requestDurationMicros: Int(duration),
                                     requestMethod: method.isEmpty ? "-" : method, requestURI: uri.isEmpty ? "-" : uri,
                                     contentLength: Int(load(slot: slot, .contentLength))))
        }
        let total = Int(load(.totalProcesses))
        return Totals(startTime: Int(load(.startTime)), acceptedConnections: accepted, slowRequests: slow,
                      activeProcesses: min(max(0, Int(load(.activeProcesses))), max(total, processes.count)),
                      totalProcesses: max(total, processes.count), maxActiveProcesses: Int(load(.maxActiveProcesses)),
                      maxChildrenReached: Int(load(.maxChildrenReached)), maxListenQueue: Int(load(.maxListenQueue)),
                      listenQueueLength: Int(load(.listenQueueLength)), processes: processes)
    }
}

/// This process's slot on a scoreboard: what the transport writes to as requests start and end.
public struct ScoreboardSlot: Sendable {
    /// The scoreboard.
    public let board: Scoreboard
    /// This process's slot index.
    public let index: Int

    /// A slot on `board`.
    public init(board: Scoreboard, index: Int) {
        self.board = board
        self.index = index
    }

    /// This worker's inherited slot, or else a private one-slot scoreboard for a single process.
    public static func forThisProcess() -> ScoreboardSlot? {
        if let (board, slot) = Scoreboard.inherited { return ScoreboardSlot(board: board, index: slot) }
        guard let board = Scoreboard.create(slots: 1, shared: false) else { return nil }
        board.assign(slot: 0, pid: getpid())
        board.setTotalProcesses(1)
        return ScoreboardSlot(board: board, index: 0)
    }
}
