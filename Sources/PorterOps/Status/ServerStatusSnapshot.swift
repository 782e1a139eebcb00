import PorterFastCGI
import PorterHost
import Synchronization
import Foundation
import Porter

/// The numbers a status page shows (PHP-FPM's `pm.status_path` fields, in Porter's terms).
///
/// Every field is optional: each `ServerStatusSource` fills what it knows (the pipeline's `RequestStatistics`
/// the request counters, the transport its threads, connections and processes) and `merged(with:)` overlays them.
public struct ServerStatusSnapshot: Sendable, Equatable, Encodable {
    /// Worker-process counts (the pool's, from the scoreboard; 1 process in single mode).
    public struct WorkerProcesses: Sendable, Equatable, Codable {
        /// Processes serving a request now.
        public var active: Int
        /// Processes waiting for work.
        public var idle: Int
        /// All worker processes.
        public var total: Int { active + idle }

        /// Counts from their parts.
        public init(active: Int, idle: Int) {
            self.active = active
            self.idle = idle
        }
    }

    /// A name for the pool/server (PHP-FPM's `pool`).
    public var pool: String?
    /// How processes are managed, e.g. `single` or `master-worker` (PHP-FPM's `process manager`).
    public var processManager: String?
    /// When the server started.
    public var startTime: Date?
    /// Requests accepted since start (PHP-FPM's `accepted conn`).
    public var acceptedRequests: Int?
    /// Requests being served now.
    public var activeRequests: Int?
    /// The most requests served at once since start (PHP-FPM's `max active processes`).
    public var maxActiveRequests: Int?
    /// Worker threads waiting for work.
    public var idleThreads: Int?
    /// Worker threads serving a request.
    public var busyThreads: Int?
    /// All worker threads running (the parked ones not counted).
    public var totalThreads: Int?
    /// Times every worker thread there may be (`threads`) ran with some blocked in sync work.
    public var maxThreadsReached: Int?
    /// Kept-alive connections parked without a thread (waiting for their next request).
    public var parkedConnections: Int?
    /// Connections waiting in the listen backlog, if the platform reports it.
    public var listenQueue: Int?
    /// The largest listen queue seen, if known.
    public var maxListenQueue: Int?
    /// Requests slower than the slow-request threshold since start.
    public var slowRequests: Int?
    /// The process id of the process answering.
    public var processID: Int32?
    /// The host answering (`PORTER_HOST_NAME`, else the system host name): each host's scrape carries it.
    public var host: String?
    /// TCP connections closed at accept because the peer was not in `allowed_peers`.
    public var refusedPeers: Int?
    /// Worker-process counts (master/worker mode only).
    public var workerProcesses: WorkerProcesses?
    /// The listen socket's backlog (PHP-FPM's `listen queue len`).
    public var listenQueueLength: Int?
    /// The most worker processes active at once (PHP-FPM's `max active processes`).
    public var maxActiveProcesses: Int?
    /// Times every worker process was busy when a request started (PHP-FPM's `max children reached`).
    public var maxChildrenReached: Int?
    /// Every worker process, for `?full` (PHP-FPM's per-process block).
    public var processes: [Scoreboard.Process]?
    /// Requests served per handler name since start.
    public var handlerRequests: [String: Int]
    /// Request durations per handler, route and status class (for the Prometheus histogram; not in JSON).
    public var requestDurations: RequestDurationHistogram?

    /// A snapshot with only the given fields set.
    public init(pool: String? = nil, processManager: String? = nil, startTime: Date? = nil, acceptedRequests: Int? = nil,
                activeRequests: Int? = nil, maxActiveRequests: Int? = nil, idleThreads: Int? = nil, busyThreads: Int? = nil,
                totalThreads: Int? = nil, parkedConnections: Int? = nil, listenQueue: Int? = nil, maxListenQueue: Int? = nil,
                slowRequests: Int? = nil, processID: Int32? = nil, workerProcesses: WorkerProcesses? = nil,
                handlerRequests: [String: Int] = [:], requestDurations: RequestDurationHistogram? = nil) {
        self.pool = pool
        self.processManager = processManager
        self.startTime = startTime
        self.acceptedRequests = acceptedRequests
        self.activeRequests = activeRequests
        self.maxActiveRequests = maxActiveRequests
        self.idleThreads = idleThreads
        self.busyThreads = busyThreads
        self.totalThreads = totalThreads
        self.parkedConnections = parkedConnections
        self.listenQueue = listenQueue
        self.maxListenQueue = maxListenQueue
        self.slowRequests = slowRequests
        self.processID = processID
        self.workerProcesses = workerProcesses
        self.handlerRequests = handlerRequests
        self.requestDurations = requestDurations
    }

    /// This snapshot overlaid with `other`: each field `other` sets replaces this one's; handler counts are
    /// united (`other` wins per name); duration histograms are combined.
    public func merged(with other: ServerStatusSnapshot) -> ServerStatusSnapshot {
        var m = self
        m.pool = other.pool ?? pool
        m.processManager = other.processManager ?? processManager
        m.startTime = other.startTime ?? startTime
        m.acceptedRequests = other.acceptedRequests ?? acceptedRequests
        m.activeRequests = other.activeRequests ?? activeRequests
        m.maxActiveRequests = other.maxActiveRequests ?? maxActiveRequests
        m.idleThreads = other.idleThreads ?? idleThreads
        m.busyThreads = other.busyThreads ?? busyThreads
        m.totalThreads = other.totalThreads ?? totalThreads
        m.maxThreadsReached = other.maxThreadsReached ?? maxThreadsReached
        m.parkedConnections = other.parkedConnections ?? parkedConnections
        m.listenQueue = other.listenQueue ?? listenQueue
        m.maxListenQueue = other.maxListenQueue ?? maxListenQueue
        m.slowRequests = other.slowRequests ?? slowRequests
        m.processID = other.processID ?? processID
        m.host = other.host ?? host
        m.refusedPeers = other.refusedPeers ?? refusedPeers
        m.workerProcesses = other.workerProcesses ?? workerProcesses
        m.listenQueueLength = other.listenQueueLength ?? listenQueueLength
        m.maxActiveProcesses = other.maxActiveProcesses ?? maxActiveProcesses
        m.maxChildrenReached = other.maxChildrenReached ?? maxChildrenReached
        m.processes = other.processes ?? processes
        m.handlerRequests.merge(other.handlerRequests) { _, new in new }
        switch (requestDurations, other.requestDurations) {
        case (let a?, let b?): m.requestDurations = a.combined(with: b)
        case (nil, let b?): m.requestDurations = b
        default: break
        }
        return m
    }

    /// PHP-FPM's JSON status keys (`pm.status_path?json`), then Porter's own under snake_case names.
    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ s: String) { stringValue = s }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    /// Encodes as PHP-FPM's JSON status (`start time` in seconds since 1970, `processes` only when listed).
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Key.self)
        func put<T: Encodable>(_ key: String, _ value: T?) throws { if let value { try c.encode(value, forKey: Key(key)) } }
        try put("pool", pool)
        try put("process manager", processManager)
        if let startTime {
            try put("start time", Int(startTime.timeIntervalSince1970))
            try put("start since", Int(Date().timeIntervalSince(startTime).rounded(.down)))
        }
        try put("accepted conn", acceptedRequests)
        try put("listen queue", listenQueue)
        try put("max listen queue", maxListenQueue)
        try put("listen queue len", listenQueueLength)
        try put("idle processes", workerProcesses?.idle)
        try put("active processes", workerProcesses?.active)
        try put("total processes", workerProcesses?.total)
        try put("max active processes", maxActiveProcesses)
        try put("max children reached", maxChildrenReached)
        try put("slow requests", slowRequests)
        try put("processes", processes.map { $0.map(ProcessJSON.init) })
        try put("active_requests", activeRequests)
        try put("max_active_requests", maxActiveRequests)
        try put("idle_threads", idleThreads)
        try put("busy_threads", busyThreads)
        try put("total_threads", totalThreads)
        try put("max_threads_reached", maxThreadsReached)
        try put("parked_connections", parkedConnections)
        try put("pid", processID)
        try put("host", host)
        try put("refused_peers", refusedPeers)
        try c.encode(handlerRequests, forKey: Key("handler_requests"))
    }

    /// One process of PHP-FPM's `?full&json` list.
    struct ProcessJSON: Encodable {
        let p: Scoreboard.Process
        init(_ p: Scoreboard.Process) { self.p = p }
        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: Key.self)
            try c.encode(p.pid, forKey: Key("pid"))
            try c.encode(p.state, forKey: Key("state"))
            try c.encode(p.startTime, forKey: Key("start time"))
            try c.encode(max(0, Int(Date().timeIntervalSince1970) - p.startTime), forKey: Key("start since"))
            try c.encode(p.requests, forKey: Key("requests"))
            try c.encode(p.requestDurationMicros, forKey: Key("request duration"))
            try c.encode(p.requestMethod, forKey: Key("request method"))
            try c.encode(p.requestURI, forKey: Key("request uri"))
            try c.encode(p.contentLength, forKey: Key("content length"))
            try c.encode("-", forKey: Key("user"))
            try c.encode("-", forKey: Key("script"))
            try c.encode(p.activeRequests, forKey: Key("active_requests"))
        }
    }
}

/// Something that reports server numbers for the status page: the pipeline's `RequestStatistics`, the
/// FastCGI transport (threads, parked connections, listen queue) and, in master/worker mode, the master.
public protocol ServerStatusSource: Sendable {
    /// The numbers as of now; leave fields you do not know `nil`.
    func statusSnapshot() async -> ServerStatusSnapshot
}

/// The status sources of a process, kept as a service so handlers built from options can find them.
public enum ServerStatusSources {
    /// Adds `source` to the process's sources.
    public static func register(_ source: any ServerStatusSource, in application: ApplicationState) {
        application.services.resolve(StatusSourceList.self) { StatusSourceList() }.append(source)
    }

    /// The registered sources, in registration order.
    public static func all(in application: ApplicationState) -> [any ServerStatusSource] {
        application.services[StatusSourceList.self]?.all ?? []
    }

    /// The merged snapshot: `statistics` (or the published `RequestStatistics`) first, then the transport's
    /// counters when a server published them, then every registered source, in registration order.
    public static func snapshot(statistics: RequestStatistics?, extra: [any ServerStatusSource],
                                application: ApplicationState) async -> ServerStatusSnapshot {
        var merged = ServerStatusSnapshot(processID: getpid())
        merged.host = HostName.current
        let services = application.services
        if let stats = statistics ?? services[RequestStatistics.self] {
            merged = merged.merged(with: await stats.statusSnapshot())
        }
        var sources = extra
        if let transport = services[TransportStatistics.self] {
            sources.insert(TransportStatusSource(statistics: transport, startTime: Date(timeIntervalSince1970: Double(services[ProcessModel.self]?.startedAt ?? 0)),
                                                  processManager: services[ProcessModel.self]?.name ?? "single"), at: 0)
        }
        for source in sources + all(in: application) {
            merged = merged.merged(with: await source.statusSnapshot())
        }
        return merged
    }
}

/// The registered status sources.
final class StatusSourceList: Sendable {
    private let list = Mutex<[any ServerStatusSource]>([])
    func append(_ source: any ServerStatusSource) { list.withLock { $0.append(source) } }
    var all: [any ServerStatusSource] { list.withLock { $0 } }
}

/// The name this host reports in status and metrics: `PORTER_HOST_NAME` if set, else the system host name.
public enum HostName {
    /// The name, read once per process.
    public static let current: String = {
        if let env = getenv("PORTER_HOST_NAME"), env.pointee != 0 { return String(cString: env) }
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "unknown" }
        return String(cString: buffer)
    }()
}
