import CFastCGI
import Glibc

/// Process-level controls a worker process needs.
public enum ProcessControl {
    /// Makes the kernel send SIGTERM to this process when its parent exits (a worker whose master died stops).
    public static func terminateWithParent() { _ = porter_set_parent_death_signal(SIGTERM) }
}
