@testable import PorterFastCGI
import Testing

/// The connection's life as a table: each script is a list of events with the action each must produce,
/// and the state the connection ends in. No sockets, no threads, no clock.
@Suite("Connection state machine")
struct ConnectionStateMachineTests {
    typealias M = ConnectionStateMachine

    /// One event, written without a real task (`suspend` makes one).
    enum Step: Sendable {
        case inspect(M.Input, at: UInt64 = 0)
        case suspend(generation: UInt64)
        case tick(at: UInt64, peerClosed: Bool = false)
        case ready
        case written(keep: Bool)
        case failed
        case drain
    }

    /// The end state without the task.
    enum End: Equatable, Sendable {
        case accepted, parked, partial(since: UInt64), closed
        case busy(generation: UInt64, timedOut: Bool = false, clientGone: Bool = false)
    }

    struct Script: Sendable, CustomTestStringConvertible {
        var name: String
        var limits = M.Limits(headerTimeout: 1_000, requestTimeout: 10_000, stuckAfter: 5_000)
        var steps: [(Step, M.Action)]
        var end: End
        var testDescription: String { name }
    }

    static let head = M.Input.completeHead(path: "/p")

    static let scripts: [Script] = [
        Script(name: "accept → head complete → busy → written, kept → parked",
               steps: [(.inspect(head, at: 5), .serve), (.ready, .respond), (.written(keep: true), .park)], end: .parked),
        Script(name: "accept → head complete → written, not kept → closed",
               steps: [(.inspect(head), .serve), (.ready, .respond), (.written(keep: false), .close(.notKept))], end: .closed),
        Script(name: "accept → head incomplete → partial → rest arrives → busy → parked",
               steps: [(.inspect(.incompleteHead, at: 100), .waitForRest), (.tick(at: 120), .rearm),
                       (.inspect(.incompleteHead, at: 130), .waitForRest), (.tick(at: 140), .rearm),
                       (.inspect(head, at: 150), .serve), (.ready, .respond), (.written(keep: true), .park)], end: .parked),
        Script(name: "a partial connection keeps its first-seen time across wake-ups",
               steps: [(.inspect(.incompleteHead, at: 100), .waitForRest), (.tick(at: 120), .rearm),
                       (.inspect(.incompleteHead, at: 900), .waitForRest)], end: .partial(since: 100)),
        Script(name: "header timeout closes a partial connection",
               steps: [(.inspect(.incompleteHead, at: 100), .waitForRest), (.tick(at: 1_100), .rearm),
                       (.inspect(.incompleteHead, at: 1_100), .waitForRest), (.tick(at: 1_101), .close(.headerTimeout))], end: .closed),
        Script(name: "a spurious wake-up of a partial connection keeps waiting",
               steps: [(.inspect(.incompleteHead, at: 100), .waitForRest), (.tick(at: 120), .rearm),
                       (.inspect(.nothingBuffered), .waitForRest)], end: .partial(since: 100)),
        Script(name: "EOF while parked closes",
               steps: [(.inspect(head), .serve), (.ready, .respond), (.written(keep: true), .park),
                       (.inspect(.endOfStream), .close(.peerClosed))], end: .closed),
        Script(name: "a spurious wake-up of a parked connection parks it again",
               steps: [(.inspect(head), .serve), (.written(keep: true), .park), (.inspect(.nothingBuffered), .park)], end: .parked),
        Script(name: "a kept connection serves its next request with a new generation",
               steps: [(.inspect(head), .serve), (.written(keep: true), .park), (.inspect(head, at: 7), .serve)],
               end: .busy(generation: 2)),
        Script(name: "malformed input closes", steps: [(.inspect(.malformed("bad")), .close(.malformed("bad")))], end: .closed),
        Script(name: "malformed input after a partial head closes",
               steps: [(.inspect(.incompleteHead, at: 1), .waitForRest), (.tick(at: 2), .rearm),
                       (.inspect(.malformed("bad")), .close(.malformed("bad")))], end: .closed),
        Script(name: "a socket error closes", steps: [(.inspect(.readFailed), .close(.readFailed))], end: .closed),
        Script(name: "reading the request fails → closed",
               steps: [(.inspect(head), .serve), (.failed, .close(.requestFailed))], end: .closed),
        Script(name: "drain while parked wakes it; EOF then closes",
               steps: [(.inspect(head), .serve), (.written(keep: true), .park), (.drain, .wakeToClose),
                       (.inspect(.endOfStream), .close(.peerClosed))], end: .closed),
        Script(name: "drain while parked: a request already buffered is served, then the connection closes",
               steps: [(.inspect(head), .serve), (.written(keep: true), .park), (.drain, .wakeToClose),
                       (.inspect(head), .serve), (.ready, .respond), (.written(keep: true), .close(.draining))], end: .closed),
        Script(name: "drain while busy closes after the response instead of parking",
               steps: [(.inspect(head), .serve), (.drain, .none), (.ready, .respond), (.written(keep: true), .close(.draining))],
               end: .closed),
        Script(name: "drain while a kept connection's next head is partial: closes at the next tick (nginx retries it)",
               steps: [(.inspect(head), .serve), (.written(keep: true), .park), (.inspect(.incompleteHead, at: 1), .waitForRest),
                       (.drain, .none), (.tick(at: 2), .close(.draining))],
               end: .closed),
        Script(name: "drain while just accepted: nginx's first request is still awaited (a fresh connection is never dropped)",
               steps: [(.drain, .none), (.inspect(.nothingBuffered), .park), (.inspect(head), .serve), (.ready, .respond),
                       (.written(keep: true), .close(.draining))], end: .closed),
        Script(name: "drain while the first head is partial: it gets its header timeout, then is served",
               steps: [(.drain, .none), (.inspect(.incompleteHead, at: 1), .waitForRest), (.tick(at: 2), .rearm),
                       (.inspect(head), .serve)], end: .busy(generation: 1)),
        Script(name: "request timeout: cancel on the tick, 504 when the response is ready, connection kept",
               steps: [(.inspect(head, at: 0), .serve), (.suspend(generation: 1), .none), (.tick(at: 10_000), .none),
                       (.tick(at: 10_001), .timeout), (.tick(at: 10_002), .none), (.ready, .timeout),
                       (.written(keep: true), .park)], end: .parked),
        Script(name: "a request running far past its timeout is reported stuck once",
               steps: [(.inspect(head, at: 0), .serve), (.tick(at: 10_001), .timeout), (.tick(at: 15_000), .none),
                       (.tick(at: 15_001), .reportStuck), (.tick(at: 99_999), .none)],
               end: .busy(generation: 1, timedOut: true)),
        Script(name: "no request timeout configured: ticks do nothing",
               limits: M.Limits(headerTimeout: 1_000, requestTimeout: nil),
               steps: [(.inspect(head, at: 0), .serve), (.tick(at: 1_000_000), .none)], end: .busy(generation: 1)),
        Script(name: "a task registered after the timeout is cancelled at once",
               steps: [(.inspect(head, at: 0), .serve), (.tick(at: 10_001), .timeout), (.suspend(generation: 1), .cancel)],
               end: .busy(generation: 1, timedOut: true)),
        Script(name: "client gone: the async request is cancelled, the connection closes after the response",
               steps: [(.inspect(head), .serve), (.suspend(generation: 1), .none), (.tick(at: 1, peerClosed: true), .cancel),
                       (.tick(at: 2, peerClosed: true), .none), (.ready, .respond), (.written(keep: true), .close(.clientGone))],
               end: .closed),
        Script(name: "client gone during a sync request: nothing to cancel",
               steps: [(.inspect(head), .serve), (.tick(at: 1, peerClosed: true), .none)], end: .busy(generation: 1)),
        Script(name: "client gone ignored when cancelOnDisconnect is off",
               limits: M.Limits(headerTimeout: 1_000, requestTimeout: nil, cancelOnDisconnect: false),
               steps: [(.inspect(head), .serve), (.suspend(generation: 1), .none), (.tick(at: 1, peerClosed: true), .none)],
               end: .busy(generation: 1)),
        Script(name: "a stale task registration (the request already ended) is ignored",
               steps: [(.inspect(head), .serve), (.written(keep: true), .park), (.suspend(generation: 1), .none)], end: .parked),
        Script(name: "a task registration for an older request on a busy connection is ignored",
               steps: [(.inspect(head), .serve), (.written(keep: true), .park), (.inspect(head), .serve),
                       (.suspend(generation: 1), .none)], end: .busy(generation: 2)),
        Script(name: "events that do not fit the state are ignored",
               steps: [(.inspect(.endOfStream), .close(.peerClosed)), (.inspect(head), .none), (.ready, .none),
                       (.written(keep: true), .none), (.failed, .none), (.tick(at: 9, peerClosed: true), .none), (.drain, .none)],
               end: .closed),
        Script(name: "a parked connection ignores response events",
               steps: [(.inspect(head), .serve), (.written(keep: true), .park), (.ready, .none), (.written(keep: true), .none),
                       (.tick(at: 99_999), .none)], end: .parked),
    ]

    @Test("scripts", arguments: scripts)
    func script(_ script: Script) {
        var machine = M(limits: script.limits)
        for (index, (step, expected)) in script.steps.enumerated() {
            let action = machine.handle(event(step))
            #expect(action == expected, "step \(index) of \(script.name)")
        }
        #expect(end(machine.state) == script.end, "\(script.name)")
    }

    @Test("a tick asks the socket about the peer only for an async request that could still be cancelled")
    func peerCheck() {
        var machine = M(limits: M.Limits(headerTimeout: 1_000, requestTimeout: nil))
        #expect(!machine.wantsPeerCheck)
        _ = machine.handle(.inspected(Self.head, now: 0))
        #expect(!machine.wantsPeerCheck, "sync so far: nothing to cancel")
        _ = machine.handle(event(.suspend(generation: 1)))
        #expect(machine.wantsPeerCheck)
        _ = machine.handle(.tick(now: 1, peerClosed: true))
        #expect(!machine.wantsPeerCheck, "already cancelled")
    }

    @Test("the in-flight request carries its path and task for supervision")
    func inFlightDetails() {
        var machine = M(limits: M.Limits(headerTimeout: 1_000, requestTimeout: 10))
        _ = machine.handle(.inspected(.completeHead(path: "/slow"), now: 3))
        let task = Task<Void, Never> {}
        _ = machine.handle(.suspended(task, generation: machine.generation))
        guard case .busy(let request) = machine.state else {
            Issue.record("not busy: \(machine.state)")
            return
        }
        #expect(request.path == "/slow" && request.startedAt == 3 && request.generation == 1)
        #expect(machine.task == task)
    }

    @Test("a streamed body's task is the one cancelled: the pipeline's task registered after it is ignored")
    func streamTaskWins() {
        var machine = M(limits: M.Limits(headerTimeout: 1_000, requestTimeout: nil))
        _ = machine.handle(.inspected(.completeHead(path: "/events"), now: 0))
        let stream = Task<Void, Never> {}
        let pipeline = Task<Void, Never> {}
        #expect(machine.handle(.streaming(stream, generation: 1)) == .none)
        #expect(machine.handle(.suspended(pipeline, generation: 1)) == .none)
        #expect(machine.task == stream)
        #expect(machine.wantsPeerCheck)
        #expect(machine.handle(.tick(now: 1, peerClosed: true)) == .cancel)
        #expect(machine.task == stream)
    }

    func event(_ step: Step) -> M.Event {
        switch step {
        case .inspect(let input, let at): .inspected(input, now: at)
        case .suspend(let generation): .suspended(Task {}, generation: generation)
        case .tick(let at, let peerClosed): .tick(now: at, peerClosed: peerClosed)
        case .ready: .responseReady
        case .written(let keep): .responseWritten(keepConnection: keep)
        case .failed: .requestFailed
        case .drain: .drain
        }
    }

    func end(_ state: M.State) -> End {
        switch state {
        case .accepted: .accepted
        case .parked: .parked
        case .partial(let since): .partial(since: since)
        case .closed: .closed
        case .busy(let r): .busy(generation: r.generation, timedOut: r.timedOut, clientGone: r.clientGone)
        }
    }
}
