import Glibc

/// Memory a serving process gives back to the system: after start-up, the heap start-up freed and the pages of code
/// and constants that only start-up ran (the dynamic loader, argument and configuration parsing, building features);
/// after traffic, the heap its requests freed.
public enum ProcessMemory {
    /// What `releaseAfterStartup()` gave back.
    public struct Released: Sendable, Equatable {
        /// Resident bytes of read-only file mappings this process stopped mapping.
        public var fileBytes: Int
        /// How many mappings they were in.
        public var mappings: Int
    }

    /// Returns start-up's freed heap to the system (glibc's malloc_trim) and drops this process's resident pages of
    /// its read-only, private file mappings that hold no private copy (the text and constants of the binary and its
    /// libraries: clean page-cache pages). The pages stay in the page cache; the ones serving runs come back on first
    /// use as minor faults, so the RSS that remains is what serving uses. Writable mappings, mappings holding
    /// copied-on-write pages (relocated data) and shared mappings are never touched.
    @discardableResult
    public static func releaseAfterStartup() -> Released {
        trimHeap()
        var released = Released(fileBytes: 0, mappings: 0)
        for mapping in readOnlyFileMappings() where mapping.residentBytes > 0 {
            guard let start = UnsafeMutableRawPointer(bitPattern: mapping.start) else { continue }
            if madvise(start, Int(mapping.end - mapping.start), MADV_DONTNEED) == 0 {
                released.fileBytes += mapping.residentBytes
                released.mappings += 1
            }
        }
        return released
    }

    /// Returns freed heap from malloc's arenas to the system (malloc_trim, which the Glibc module does not export).
    public static func trimHeap() {
        typealias MallocTrim = @convention(c) (Int) -> Int32
        guard let symbol = dlsym(nil, "malloc_trim") else { return }
        _ = unsafeBitCast(symbol, to: MallocTrim.self)(0)
    }

    /// A mapping `releaseAfterStartup()` may drop: private, not writable, backed by a file, no anonymous (copied) pages.
    public struct Mapping: Sendable, Equatable {
        /// First and one-past-last address.
        public var start: UInt, end: UInt
        /// Resident bytes now.
        public var residentBytes: Int
        /// The mapped file.
        public var path: String
    }

    /// The mappings `releaseAfterStartup()` may drop, from `smaps` (this process's by default; another's for tests and tools).
    public static func readOnlyFileMappings(smaps: String = "/proc/self/smaps") -> [Mapping] {
        guard let text = FileText.read(smaps) else { return [] }
        var result: [Mapping] = []
        var current: Mapping?
        var eligible = false
        var anonymousKiB = 0
        func flush() {
            if let mapping = current, eligible, anonymousKiB == 0 { result.append(mapping) }
            current = nil
        }
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard let first = fields.first else { continue }
            if first.hasSuffix(":") {
                guard current != nil, fields.count >= 2, let kiB = Int(fields[1]) else { continue }
                if first == "Rss:" { current?.residentBytes = kiB * 1024 }
                if first == "Anonymous:" { anonymousKiB = kiB }
                continue
            }
            // A mapping's header: start-end perms offset dev inode [path]
            flush()
            let range = first.split(separator: "-")
            guard fields.count >= 6, range.count == 2, let start = UInt(range[0], radix: 16), let end = UInt(range[1], radix: 16) else { continue }
            let perms = fields[1]
            let path = fields[5...].joined(separator: " ")
            eligible = (perms == "r-xp" || perms == "r--p") && fields[4] != "0" && path.hasPrefix("/") && !path.hasPrefix("/memfd:")
            anonymousKiB = 0
            current = Mapping(start: start, end: end, residentBytes: 0, path: path)
        }
        flush()
        return result
    }
}
