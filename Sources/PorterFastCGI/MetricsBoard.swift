import CFastCGI
import Glibc
import Synchronization

/// The pool's swift-metrics series in shared memory, so that with `workers > 0` a scrape of `/metrics` shows the
/// whole pool whichever worker answers (what the `Scoreboard` does for the status counters).
///
/// The master creates it (a `memfd`) next to the scoreboard. Each worker process publishes its registry's exposition
/// text into its own region (numbered as its scoreboard slot) every second and once more after draining; the
/// worker answering `/metrics` publishes first, then sums every region (`PrometheusText.sum`). When a worker exits,
/// the master folds its counters and histograms into the retired region and drops its gauges, so no counter goes
/// down when a worker is replaced. A worker killed outright loses what it counted since its last publication.
public final class MetricsBoard: @unchecked Sendable {
    /// The environment variable a worker finds the board's descriptor in (its region is its scoreboard slot).
    public static let descriptorEnvironmentKey = "PORTER_METRICS_FD"
    /// The bytes of one process's region (twice the text it holds); only the pages written take memory.
    public static let defaultRegionBytes = 2 << 20

    // Layout: a header of 8 Int64 words (magic, region count, region bytes, fold sequence), then the retired
    // region and one region per scoreboard slot, each [flips][current][length 0][length 1][text 0][text 1]: a writer
    // fills the half that is not current, then makes it current and counts a flip, so a process killed while
    // publishing leaves its previous text whole (for the master to fold) and a reader retries if a flip happened
    // while it copied.
    static let headerBytes = 64
    static let magic: Int64 = 0x504f_5254_4552_4d42 // "PORTERMB"
    enum Header: Int { case magic = 0, regionCount, regionBytes, sequence }

    let base: UnsafeMutableRawPointer
    let byteCount: Int
    /// The shared-memory descriptor workers inherit.
    public let descriptor: Int32
    /// The number of worker regions (the scoreboard's slots).
    public let slotCount: Int
    let regionBytes: Int
    /// One publisher at a time in this process (the timer and a `/metrics` request may publish together).
    private let publishing = Mutex(())

    private init(base: UnsafeMutableRawPointer, byteCount: Int, descriptor: Int32, slotCount: Int, regionBytes: Int) {
        self.base = base
        self.byteCount = byteCount
        self.descriptor = descriptor
        self.slotCount = slotCount
        self.regionBytes = regionBytes
    }

    deinit { munmap(base, byteCount) }

    static func size(slots: Int, regionBytes: Int) -> Int { headerBytes + (slots + 1) * regionBytes }

    /// A new board with a region for each of `slots` scoreboard slots and the retired region (a memfd workers inherit).
    public static func create(slots: Int, regionBytes: Int = defaultRegionBytes) -> MetricsBoard? {
        guard slots > 0, regionBytes >= 64, regionBytes % 16 == 0 else { return nil }
        let bytes = size(slots: slots, regionBytes: regionBytes)
        let fd = porter_memfd_create("porter-metrics")
        guard fd >= 0, ftruncate(fd, off_t(bytes)) == 0,
              let p = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), p != MAP_FAILED else {
            if fd >= 0 { close(fd) }
            return nil
        }
        let board = MetricsBoard(base: p, byteCount: bytes, descriptor: fd, slotCount: slots, regionBytes: regionBytes)
        board.header(.regionCount).pointee = Int64(slots)
        board.header(.regionBytes).pointee = Int64(regionBytes)
        porter_atomic_store(board.header(.magic), magic)
        return board
    }

    /// The board a master handed this worker process, with the worker's region (its scoreboard slot).
    public static let inherited: (board: MetricsBoard, slot: Int)? = {
        guard let slot = Scoreboard.inherited?.slot,
              let board = attach(descriptor: getenv(descriptorEnvironmentKey).map { String(cString: $0) }), slot < board.slotCount
        else { return nil }
        return (board, slot)
    }()

    /// Maps the board on descriptor `descriptor` (decimal text); nil for anything that is not one.
    static func attach(descriptor: String?) -> MetricsBoard? {
        guard let fd = descriptor.flatMap({ Int32($0) }), fd >= 0 else { return nil }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_size >= headerBytes else { return nil }
        let bytes = Int(st.st_size)
        guard let p = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), p != MAP_FAILED else { return nil }
        let words = p.assumingMemoryBound(to: Int64.self)
        let slots = Int(words[Header.regionCount.rawValue]), regionBytes = Int(words[Header.regionBytes.rawValue])
        guard porter_atomic_load(words) == magic, slots > 0, regionBytes >= 64, size(slots: slots, regionBytes: regionBytes) <= bytes else {
            munmap(p, bytes)
            return nil
        }
        return MetricsBoard(base: p, byteCount: bytes, descriptor: fd, slotCount: slots, regionBytes: regionBytes)
    }

    private func header(_ h: Header) -> UnsafeMutablePointer<Int64> {
        (base + h.rawValue * 8).assumingMemoryBound(to: Int64.self)
    }

    /// Region 0 is the retired one; slot `s` has region `s + 1`.
    private struct Region {
        let words: UnsafeMutablePointer<Int64>   // flips, current, length 0, length 1
        let texts: UnsafeMutableRawPointer
        let capacity: Int
        var flips: UnsafeMutablePointer<Int64> { words }
        var current: UnsafeMutablePointer<Int64> { words + 1 }
        func length(_ half: Int) -> UnsafeMutablePointer<Int64> { words + 2 + half }
        func text(_ half: Int) -> UnsafeMutableRawPointer { texts + half * capacity }
    }

    private func region(_ index: Int) -> Region {
        let start = base + Self.headerBytes + index * regionBytes
        return Region(words: start.assumingMemoryBound(to: Int64.self), texts: start + 32, capacity: capacity)
    }

    /// The most text one region holds (half of it: the other half keeps the previous text while a new one is written).
    public var capacity: Int { (regionBytes - 32) / 2 }

    /// Writes `text` into the region's spare half and makes it current (one writer per region at a time).
    private func write(_ text: String, region index: Int) -> Bool {
        return text.withUTF8Bytes { utf8 in
            guard utf8.count <= capacity else { return false }
            let r = region(index)
            let spare = porter_atomic_load(r.current) == 0 ? 1 : 0
            if utf8.count > 0 { r.text(spare).copyMemory(from: utf8.baseAddress!, byteCount: utf8.count) }
            porter_atomic_store(r.length(spare), Int64(utf8.count))
            porter_atomic_store(r.current, Int64(spare))
            porter_atomic_add(r.flips, 1)
            return true
        }
    }

    /// A region's current text, copied while no flip happened; nil if it never held still.
    private func read(region index: Int) -> String? {
        let r = region(index)
        for _ in 0..<10_000 {
            let before = porter_atomic_load(r.flips)
            let half = porter_atomic_load(r.current) == 0 ? 0 : 1
            let n = min(max(0, Int(porter_atomic_load(r.length(half)))), capacity)
            let text = String(decoding: UnsafeRawBufferPointer(start: r.text(half), count: n), as: UTF8.self)
            porter_atomic_fence_acquire()
            if porter_atomic_load(r.flips) == before { return text }
            sched_yield()
        }
        return nil
    }

    // MARK: worker

    /// Publishes this process's exposition `text` in `slot`'s region; false if it is larger than `capacity` (the
    /// region keeps the previous text).
    @discardableResult
    public func publish(_ text: String, slot: Int) -> Bool {
        guard slot >= 0, slot < slotCount else { return false }
        return publishing.withLock { _ in write(text, region: slot + 1) }
    }

    /// The pool's exposition: every worker's last published text and the retired totals, summed, consistently
    /// with a concurrent `retire`.
    public func poolText() -> String {
        var texts: [String] = []
        for _ in 0..<10_000 {
            let before = porter_atomic_load(header(.sequence))
            if before & 1 == 0 {
                texts = (0...slotCount).compactMap { read(region: $0) }
                porter_atomic_fence_acquire()
                if porter_atomic_load(header(.sequence)) == before { break }
            }
            sched_yield()
        }
        return PrometheusText.sum(texts.map { PrometheusText.Part($0) })
    }

    // MARK: master

    /// Folds the counters and histograms a finished worker last published in `slot` into the retired totals, drops
    /// its gauges and empties the region (the master calls this when it reaps the worker, before reusing the slot).
    /// False when the retired totals would no longer fit (they are then left as they were).
    @discardableResult
    public func retire(slot: Int) -> Bool {
        guard slot >= 0, slot < slotCount, let finished = read(region: slot + 1), !finished.isEmpty else { return true }
        let retired = read(region: 0) ?? ""
        let folded = PrometheusText.sum([PrometheusText.Part(retired), PrometheusText.Part(finished, keepsGauges: false)])
        let fits = folded.utf8.count <= capacity
        porter_atomic_add(header(.sequence), 1) // odd: readers retry until both regions changed
        if fits { _ = write(folded, region: 0) }
        _ = write("", region: slot + 1)
        porter_atomic_add(header(.sequence), 1)
        return fits
    }
}
