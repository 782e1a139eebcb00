import Logging
import Porter
import PorterFastCGI
import Glibc

/// PHP-FPM-style process model: the master owns the listen socket and keeps N worker processes on it.
///
/// A worker that dies (a Swift trap in a handler, `max_requests` reached, a stuck request) is replaced at
/// once; SIGHUP starts a new generation of workers with the re-read configuration and drains the old one;
/// SIGTERM/SIGINT/SIGQUIT drain every worker and exit 0.
struct MasterProcess {
    /// Set in a worker's environment: the inherited listen socket's fd number.
    static let workerEnvironmentKey = "PORTER_WORKER_FD"

    let app: PorterApplication
    let configuration: ServerConfiguration
    let source: ConfigurationSource
    let logger: Logger

    /// The listen socket a worker process inherited from its master, or from systemd socket activation.
    static func inheritedListen() -> FastCGIServerConfiguration.Listen? {
        if let fd = getenv(workerEnvironmentKey).flatMap({ Int32(String(cString: $0)) }) { return .inherited(fd: fd) }
        if let pid = getenv("LISTEN_PID").flatMap({ Int32(String(cString: $0)) }), pid == getpid(),
           let count = getenv("LISTEN_FDS").flatMap({ Int(String(cString: $0)) }), count >= 1 {
            return .inherited(fd: 3)
        }
        return nil
    }

    /// Whether this process is a worker started by a master.
    static var isWorker: Bool { getenv(workerEnvironmentKey) != nil }

    /// Set in the environment of the short-lived child that builds a configuration for the master.
    static let checkEnvironmentKey = "PORTER_CHECK_BUILD"

    /// Whether this process only builds the configuration for its master, then exits.
    static var isCheckChild: Bool { getenv(checkEnvironmentKey) != nil }

    /// Builds the configuration the way a worker would, in a short-lived child (this program, this command line),
    /// so what building loads and allocates (libvips, database pools, caches) stays out of the master, which
    /// serves nothing. Returns the child's exit status (0: workers can build it; its error is on the shared
    /// stderr otherwise), or nil when no child could be started.
    static func buildsInChild(logger: Logger) -> Int32? {
        guard let pid = spawnSelf(environment: ["\(checkEnvironmentKey)=1"], logger: logger) else { return nil }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let signaled = (status & 0x7f) != 0
        return signaled ? 128 + (status & 0x7f) : (status >> 8) & 0xff
    }

    func run() async throws {
        // Signals arrive on any thread of this process: a handler forwards them through a pipe to this loop.
        MasterSignals.install([SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGCHLD])

        var transport = try configuration.transport()
        if let inherited = Self.inheritedListen() { transport.listen = inherited }
        let (listenFD, socketPath) = try ListenSocket.open(transport)
        _ = fcntl(listenFD, F_SETFD, 0) // inherited by workers
        logger.info("master started", metadata: ["pid": .stringConvertible(getpid()), "workers": .stringConvertible(configuration.workers),
                                                 "listen": .string(transport.listen.description)])

        // The pool's scoreboard: room for two generations of workers (a reload overlaps them) and some spare.
        let scoreboard = Scoreboard.create(slots: configuration.workers * 4 + 4, shared: true)
        if scoreboard == nil { logger.warning("no shared scoreboard (memfd/mmap failed): /status shows the answering worker only") }
        scoreboard?.setListenQueueLength(Int(transport.backlog))
        // The pool's swift-metrics series, a region per scoreboard slot: `/metrics` sums them (`MetricsBoard`).
        let metricsBoard = scoreboard.flatMap { MetricsBoard.create(slots: $0.slotCount) }
        if scoreboard != nil && metricsBoard == nil { logger.warning("no shared metrics board (memfd/mmap failed): /metrics shows the answering worker's series only") }
        var current = configuration
        var generation = 1
        var workers: [pid_t: Int] = [:] // pid → generation
        var slots: [pid_t: Int] = [:] // pid → scoreboard slot
        func start() -> pid_t? {
            let slot = scoreboard?.firstFreeSlot()
            if scoreboard != nil && slot == nil { logger.warning("scoreboard full: a worker starts without a slot") }
            guard let pid = spawnWorker(listenFD: listenFD, generation: generation, scoreboard: scoreboard.flatMap { board in slot.map { (board.descriptor, $0) } },
                                        metricsBoard: metricsBoard?.descriptor)
            else { return nil }
            workers[pid] = generation
            if let slot { scoreboard?.assign(slot: slot, pid: pid); slots[pid] = slot }
            scoreboard?.setTotalProcesses(workers.count)
            return pid
        }
        func spawnWorkers(_ count: Int) {
            for _ in 0..<count { _ = start() }
        }
        spawnWorkers(current.workers)
        ProcessMemory.releaseAfterStartup() // the master only supervises from here on

        var stopping = false
        var stopDeadline: UInt64 = 0
        while true {
            let sig = MasterSignals.next(timeoutMilliseconds: 200)
            // Reap every exited worker; replace those of the current generation.
            while true {
                var status: Int32 = 0
                let pid = waitpid(-1, &status, WNOHANG)
                guard pid > 0 else { break }
                let gen = workers.removeValue(forKey: pid) ?? 0
                // Its counters stay in the pool's totals; its slot is free for the next worker.
                if let slot = slots.removeValue(forKey: pid) {
                    if metricsBoard?.retire(slot: slot) == false {
                        logger.warning("the retired workers' metrics outgrew the board: this worker's counters are not kept")
                    }
                    scoreboard?.retire(slot: slot)
                }
                scoreboard?.setTotalProcesses(workers.count)
                let signaled = (status & 0x7f) != 0 && (status & 0x7f) != 0x7f
                let code = (status >> 8) & 0xff
                let reason = signaled ? "killed by signal \(status & 0x7f)" : "exited with status \(code)"
                if stopping || gen != generation {
                    logger.info("worker stopped", metadata: ["pid": .stringConvertible(pid), "reason": .string(reason)])
                } else {
                    if signaled || code != 0 {
                        logger.error("worker died; starting a new one", metadata: ["pid": .stringConvertible(pid), "reason": .string(reason)])
                    } else {
                        logger.info("worker recycled; starting a new one", metadata: ["pid": .stringConvertible(pid)])
                    }
                    _ = start()
                }
            }
            switch sig {
            case SIGTERM, SIGINT, SIGQUIT:
                if !stopping {
                    stopping = true
                    stopDeadline = MonotonicClock.nanoseconds() + UInt64(current.drainTimeoutSeconds + 5) * 1_000_000_000
                    logger.info("master stopping: draining workers", metadata: ["workers": .stringConvertible(workers.count)])
                    if let socketPath { unlink(socketPath) }
                    for pid in workers.keys { kill(pid, SIGTERM) }
                }
            case SIGHUP where !stopping:
                do {
                    var reloaded = try source.resolve(app)
                    reloaded.workers = current.workers
                    // Validate before switching (in a child: building in the master would load what workers need).
                    if let status = Self.buildsInChild(logger: logger) {
                        guard status == 0 else { throw MasterCheckFailed(status: status) }
                    } else {
                        _ = try app.build(reloaded, logger: logger)
                    }
                    current = reloaded
                    let old = workers.filter { $0.value == generation }.map(\.key)
                    generation += 1
                    logger.info("reloading: new workers started, old ones draining",
                                metadata: ["generation": .stringConvertible(generation), "old": .stringConvertible(old.count)])
                    spawnWorkers(current.workers)
                    for pid in old { kill(pid, SIGTERM) }
                } catch {
                    logger.error("reload refused: the new configuration is invalid; keeping the old one", metadata: ["error": .string("\(error)")])
                }
            default:
                break
            }
            if stopping {
                if workers.isEmpty { break }
                if MonotonicClock.nanoseconds() > stopDeadline {
                    logger.warning("workers did not stop in time; killing them", metadata: ["workers": .stringConvertible(workers.count)])
                    for pid in workers.keys { kill(pid, SIGKILL) }
                    stopDeadline = .max
                }
            }
        }
        close(listenFD)
        logger.info("master stopped")
    }

    /// Starts one worker: this same program and arguments, with the listen socket's fd in the environment.
    private func spawnWorker(listenFD: Int32, generation: Int, scoreboard: (descriptor: Int32, slot: Int)?, metricsBoard: Int32?) -> pid_t? {
        var environment = ["\(Self.workerEnvironmentKey)=\(listenFD)", "PORTER_WORKER_GENERATION=\(generation)"]
        if let scoreboard {
            environment.append("\(Scoreboard.descriptorEnvironmentKey)=\(scoreboard.descriptor)")
            environment.append("\(Scoreboard.slotEnvironmentKey)=\(scoreboard.slot)")
            if let metricsBoard { environment.append("\(MetricsBoard.descriptorEnvironmentKey)=\(metricsBoard)") }
        }
        guard let pid = Self.spawnSelf(environment: environment, logger: logger) else { return nil }
        logger.info("worker started", metadata: ["pid": .stringConvertible(pid), "generation": .stringConvertible(generation)])
        return pid
    }

    /// Starts this program with this command line and default signal handling, its environment without the
    /// master's per-child keys plus `extra`; nil (logged) when posix_spawn fails.
    private static func spawnSelf(environment extra: [String], logger: Logger) -> pid_t? {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for s in [SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGCHLD, SIGPIPE] { sigaddset(&defaults, s) }
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let arguments = CommandLine.arguments
        var environment: [String] = []
        var p = environ
        while let entry = p.pointee {
            let s = String(cString: entry)
            let ours = [workerEnvironmentKey, checkEnvironmentKey, "PORTER_WORKER_GENERATION", Scoreboard.descriptorEnvironmentKey,
                        Scoreboard.slotEnvironmentKey, MetricsBoard.descriptorEnvironmentKey]
            if !ours.contains(where: { s.hasPrefix($0 + "=") }) { environment.append(s) }
            p += 1
        }
        environment += extra
        let argv = arguments.map { strdup($0) } + [nil]
        let envp = environment.map { strdup($0) } + [nil]
        defer {
            for a in argv { free(a) }
            for e in envp { free(e) }
        }
        var pid = pid_t()
        let rc = posix_spawn(&pid, "/proc/self/exe", nil, &attributes, argv, envp)
        guard rc == 0 else {
            logger.error("cannot start a child process", metadata: ["error": .string(String(cString: strerror(rc)))])
            return nil
        }
        return pid
    }
}

/// The master's configuration check failed in its child (whose error is on the shared stderr).
struct MasterCheckFailed: Error, CustomStringConvertible {
    /// The child's exit status.
    let status: Int32
    var description: String { "the configuration cannot be built (exit status \(status); its error is logged above)" }
}

/// Forwards signals from async-signal context to the master loop through a non-blocking pipe.
enum MasterSignals {
    nonisolated(unsafe) static var pipeFDs: [Int32] = [-1, -1]

    static func install(_ signals: [Int32]) {
        pipe(&pipeFDs)
        for fd in pipeFDs { _ = fcntl(fd, F_SETFL, O_NONBLOCK); _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        for sig in signals {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { sig in
                var byte = UInt8(truncatingIfNeeded: sig)
                _ = write(MasterSignals.pipeFDs[1], &byte, 1)
            }
            action.sa_flags = SA_RESTART
            sigemptyset(&action.sa_mask)
            sigaction(sig, &action, nil)
        }
    }

    /// The next signal received, or 0 after `timeoutMilliseconds` without one.
    static func next(timeoutMilliseconds: Int32) -> Int32 {
        var p = pollfd(fd: pipeFDs[0], events: Int16(POLLIN), revents: 0)
        guard poll(&p, 1, timeoutMilliseconds) == 1 else { return 0 }
        var byte: UInt8 = 0
        return read(pipeFDs[0], &byte, 1) == 1 ? Int32(byte) : 0
    }
}
