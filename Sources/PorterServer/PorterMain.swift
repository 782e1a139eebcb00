public import Porter
import Synchronization

/// The entry point for your own server: add handlers and modules to the catalogues, then run the `porter`
/// command line (serve, request, nginx-config, …) with them.
///
/// ```swift
/// import Porter
/// import PorterServer
///
/// @main struct MyServer {
///     static func main() async {
///         await PorterMain.run { handlers, modules in
///             handlers.register("time", summary: "the time") { _, _ in .instance(.sync(TimeHandler())) }
///         }
///     }
/// }
/// ```
public enum PorterMain {
    /// A function that adds to the handler and module catalogues.
    public typealias Extension = @Sendable (inout HandlerCatalog, inout ModuleCatalog) -> Void

    static let extensions = Mutex<[Extension]>([])

    /// Registers `extend` and runs the command line.
    public static func run(_ extend: @escaping Extension) async {
        extensions.withLock { $0.append(extend) }
        await PorterCommand.main()
    }

    /// The built-in catalogues plus everything registered with `run(_:)`.
    static func catalogues() -> (HandlerCatalog, ModuleCatalog) {
        var handlers = HandlerCatalog.builtIn
        var modules = ModuleCatalog.builtIn
        for extend in extensions.withLock({ $0 }) { extend(&handlers, &modules) }
        return (handlers, modules)
    }
}
