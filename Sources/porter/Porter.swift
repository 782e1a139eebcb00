import ArgumentParser
import PorterServer

/// The `porter` executable: everything lives in `PorterServer.PorterCommand`.
@main
extension PorterCommand {}
